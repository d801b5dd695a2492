"""The planner's tools (agents/planner.py holds the rules): spawn_worker, wait_for, read_handoff and stop_worker,
offered to agents whose role is planner besides every worker tool (message_agent among them)."""

from __future__ import annotations

from agents import planner, services, tool_schemas
from agents.errors import ServiceError
from agents.models import Agent
from agents.tool_errors import ToolRefused

TOOLS = tool_schemas.PLANNER_TOOLS
TOOL_NAMES = {t["function"]["name"] for t in TOOLS}


def carry_out(agent: Agent, name: str, args: dict) -> tuple[str, str, str]:
    """(result for the model, activity, pause reason or "") of one planner tool call; ToolRefused says why not."""
    if agent.role != "planner":
        raise ToolRefused(f"{name} is a planner's tool; you are a {agent.role}")
    try:
        if name == "spawn_worker":
            return (*spawn_worker(agent, args), "")
        if name == "wait_for":
            return wait_for(agent, args)
        if name == "read_handoff":
            return (*read_handoff(agent, args), "")
        return (*stop_worker(agent, args), "")
    except ServiceError as exc:
        raise ToolRefused(f"{name}: {exc.message}") from None


def _child(agent: Agent, name) -> Agent:
    child = agent.children.filter(name__iexact=str(name or "").strip()).first() if isinstance(name, str) else None
    if child is None:
        names = ", ".join(agent.children.values_list("name", flat=True)) or "none yet"
        raise ToolRefused(f"you have no worker named {name!r}; yours: {names}")
    return child


def spawn_worker(agent: Agent, args: dict) -> tuple[str, str]:
    acceptance = args.get("acceptance") or []
    if isinstance(acceptance, str):
        acceptance = [acceptance]
    texts = [args.get(k) for k in ("name", "profile", "subtask", "verify_command")]
    if not all(isinstance(t, str) for t in texts) or not all(isinstance(c, str) for c in acceptance):
        raise ToolRefused("spawn_worker needs name, profile, subtask, verify_command (strings) and acceptance (a list)")
    ask = planner.Spawn(
        name=args["name"].strip(),
        profile=args["profile"].strip(),
        goal=services.clean_text(args["subtask"], planner.MAX_SPEC),
        acceptance=[services.clean_text(c, 500) for c in acceptance[:20]],
        verify_command=services.clean_text(args["verify_command"].strip(), 500),
        role=args.get("role") or "worker",
        budget={k: args[k] for k in ("minutes", "tokens", "usd") if args.get(k) is not None},
    )
    child = planner.spawn(agent, ask)
    left = planner.remaining(Agent.objects.get(pk=agent.pk))
    return (
        f"spawned {child.name} ({child.role}, {child.profile.name}) on branch swarm/{agent.task_id}/… from "
        f"{child.base_commit[:10]} with {child.allotted_minutes} minutes, {child.allotted_tokens:,} tokens and "
        f"${child.allotted_usd}; you have {left['tokens']:,} tokens and ${left['usd']:.2f} left to give",
        f"spawned {child.name}",
    )


def wait_for(agent: Agent, args: dict) -> tuple[str, str, str]:
    names = args.get("names")
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not names:
        raise ToolRefused("wait_for needs `names`: a list of your workers' names")
    children = [_child(agent, n) for n in names]
    if all(planner.settled(c) for c in children):
        return f"nobody to wait for: {planner.report(children)}", "workers settled", ""
    listed = ", ".join(c.name for c in children)
    result = f"waiting for {listed}; you are paused until each has settled, then a message tells you how each stands"
    return result, f"waiting for {listed}"[:200], f"{Agent.WAIT_PAUSE}{listed}"[:300]


def read_handoff(agent: Agent, args: dict) -> tuple[str, str]:
    child = _child(agent, args.get("name"))
    text = child.handoff or "(no handoff written yet)"
    return (
        f"{child.name} is {child.get_status_display()} ({child.status_reason}).\nHandoff:\n{text}",
        f"reading {child.name}'s handoff",
    )


def stop_worker(agent: Agent, args: dict) -> tuple[str, str]:
    child = _child(agent, args.get("name"))
    count = planner.act_on_subtree(child, "stop", agent.name)
    return f"stopped {child.name} ({count} agent(s) with those below it)", f"stopped {child.name}"
