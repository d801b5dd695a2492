"""A planner and its tree: the main agent a task may be launched with instead of a roster spawns named workers (and
sub-planners) on branches of their own, from its own commit, with budgets carved from its own; it waits for them
without holding a thread (a pause like ask_person's, resumed when they settle) and integrates their approved work
(judges/integration.py). A person acts on any node or a whole subtree.

Limits, set on the task (TaskSpec.planner): the worker profiles a planner may choose from, the maximum number of
spawned agents in the task, and the maximum depth of the tree (the launched planner is depth 0, so 1 = workers only).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from agents import events, scheduling, served, services, worktrees
from agents.errors import ServiceError
from agents.models import Agent, ModelProfile, TaskSpec
from agents.signals import awaiting_decision, status_changed

log = logging.getLogger(__name__)

MAX_SPEC = 4_000
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")


def limits(task: TaskSpec) -> tuple[list[str], int, int]:
    """(worker profiles the planners may choose from, maximum spawned agents, maximum depth)."""
    pool = [p for p in (task.planner or {}).get("workers") or [] if isinstance(p, str)]
    return pool, task.planner_limit("max_workers"), task.planner_limit("max_depth")


def depth(agent: Agent) -> int:
    return len(ancestors(agent))


def ancestors(agent: Agent) -> list[Agent]:
    found, node = [], agent
    while node.parent_id:
        node = node.parent
        found.append(node)
    return found


def subtree(agent: Agent) -> list[Agent]:
    """The agent and every agent below it, top down."""
    found, level = [agent], [agent.pk]
    while level:
        below = list(Agent.objects.filter(parent_id__in=level).order_by("id"))
        found += below
        level = [a.pk for a in below]
    return found


def remaining(parent: Agent) -> dict[str, Decimal | int]:
    """What a planner may still give its workers: its budget minus what it used and what it gave already."""
    given = parent.children.aggregate(m=Sum("allotted_minutes"), t=Sum("allotted_tokens"), u=Sum("allotted_usd"))
    return {
        "minutes": max(0, parent.budget_minutes - int(parent.elapsed_seconds // 60) - (given["m"] or 0)),
        "tokens": max(0, parent.budget_tokens - parent.tokens - (given["t"] or 0)),
        "usd": max(Decimal(0), parent.budget_usd - parent.cost_usd - (given["u"] or Decimal(0))),
    }


@dataclass
class Spawn:
    name: str
    profile: str
    goal: str
    acceptance: list[str] = field(default_factory=list)
    verify_command: str = ""
    role: str = "worker"
    budget: dict = field(default_factory=dict)  # minutes, tokens, usd asked for (empty: a fair share)


def spawn(parent: Agent, ask: Spawn) -> Agent:
    """A named worker (or sub-planner) under a planner: its branch and worktree at the planner's current commit, made
    in the background like a launched agent's, its budget carved from the planner's. ServiceError says why not."""
    if parent.role != "planner":
        raise ServiceError("only a planner spawns workers")
    if parent.finished:
        raise ServiceError(f"{parent.name} has finished")
    if served.enabled():
        raise ServiceError("spawning needs the workers to share the web process's disk (not SWARM_WORKER_DISK=local)")
    task = parent.task
    pool, max_workers, max_depth = limits(task)
    _check(parent, ask, pool, max_depth)
    base = worktrees.commit_all(parent.worktree, f"{parent.name}: work in progress before spawning {ask.name}")
    with transaction.atomic():
        parent = Agent.objects.select_for_update().select_related("task").get(pk=parent.pk)
        spawned = Agent.objects.filter(task=task, parent__isnull=False).count()
        if spawned >= max_workers:
            raise ServiceError(f"the task's limit of {max_workers} spawned agents is reached ({spawned} spawned)")
        budget = _carve(parent, ask.budget, max_workers - spawned)
        profile = ModelProfile.objects.in_team(task.team_id).filter(name=ask.profile).first()
        if profile is None:  # deleted since the task was written
            raise ServiceError(f"model profile {ask.profile} no longer exists; choose one of {', '.join(pool)}")
        clash = [a.name for a in task.agents.only("name") if worktrees.slug(a.name) == worktrees.slug(ask.name)]
        if clash:  # the branch and worktree are named by the slug: two agents would share them
            raise ServiceError(f"an agent named {clash[0]} exists in this task already; choose another name")
        try:
            with transaction.atomic():
                child = Agent.objects.create(
                    task=task,
                    name=ask.name,
                    role=ask.role,
                    parent=parent,
                    profile=profile,
                    subtask={"goal": ask.goal, "acceptance": ask.acceptance, "verify_command": ask.verify_command},
                    status=Agent.Status.PREPARING,
                    activity="waiting for its worktree",
                    base_commit=base,
                    next_step_at=timezone.now(),
                    allotted_minutes=budget["minutes"],
                    allotted_tokens=budget["tokens"],
                    allotted_usd=budget["usd"],
                )
        except IntegrityError:
            raise ServiceError(f"an agent named {ask.name} exists in this task already; choose another name") from None
        services.record_event(
            child.pk,
            "status",
            {"status": child.status, "reason": f"spawned by {parent.name} at {base[:10]}"},
            status_reason=f"spawned by {parent.name}",
        )
        transaction.on_commit(lambda: scheduling.prepare([child.pk]))
    return child


def _check(parent: Agent, ask: Spawn, pool: list[str], max_depth: int) -> None:
    if not NAME.match(ask.name or ""):
        raise ServiceError("a worker's name is a letter then up to 39 letters, digits, - or _")
    if not ask.goal.strip() or len(ask.goal) > MAX_SPEC:
        raise ServiceError(f"a subtask needs a goal of 1 to {MAX_SPEC:,} characters")
    if ask.role not in {"worker", "planner"}:
        raise ServiceError("role is worker or planner")
    allowed = pool + ([parent.profile.name] if ask.role == "planner" else [])
    if ask.profile not in allowed:
        raise ServiceError(f"profile {ask.profile!r} is not in the pool you may choose from: {', '.join(allowed)}")
    below = depth(parent) + 1
    if below > max_depth or (ask.role == "planner" and below >= max_depth):
        raise ServiceError(
            f"the task's maximum depth is {max_depth}: a {ask.role} at depth {below} is not allowed"
            + (" (a sub-planner's workers would be deeper still)" if ask.role == "planner" else "")
        )


def _carve(parent: Agent, asked: dict, slots: int) -> dict:
    """The child's budget: what was asked (refused above what the planner has left), else an equal share of what is
    left among the planner and the workers it may still spawn."""
    left = remaining(parent)
    share = {"minutes": left["minutes"] // (slots + 1), "tokens": left["tokens"] // (slots + 1)}
    share["usd"] = (left["usd"] / (slots + 1)).quantize(Decimal("0.01"))
    budget = {}
    for key, kind in (("minutes", int), ("tokens", int), ("usd", Decimal)):
        value = asked.get(key)
        if value is None:
            budget[key] = share[key]
            continue
        try:
            value = kind(str(value))
        except (ValueError, ArithmeticError):
            raise ServiceError(f"budget {key} must be a number") from None
        if value <= 0 or value > left[key]:
            raise ServiceError(
                f"you asked for {value} {key} but have only {left[key]} left to give (your budget minus what you "
                "used and what your workers were given)"
            )
        budget[key] = value
    if not budget["tokens"] or not budget["minutes"]:
        raise ServiceError("you have no budget left to give a worker")
    return budget


# waiting for workers: the planner pauses (runtime's ending), and wakes when every one it named has settled


def settled(child: Agent) -> bool:
    """Done for now as far as its planner's wait goes: finished, failed, paused (not itself waiting), or its work
    waits for a person (judged; or just submitted when no auto-approve policy decides it)."""
    if child.finished or child.status == Agent.Status.ERROR:
        return True
    if child.status == Agent.Status.PAUSED:
        return not child.waiting_on_workers
    if child.status == Agent.Status.AWAITING_REVIEW:
        return not child.task.auto_approve or child.verdicts.filter(commit_sha=child.submitted_commit).exists()
    return False


def report(children: list[Agent]) -> str:
    return "; ".join(f"{c.name}: {c.get_status_display()} ({c.status_reason[:120]})" for c in children)


def wake(planner_id: int) -> bool:
    """Resume a planner waiting for its workers once every one it named has settled, telling it how each stands."""
    with transaction.atomic():
        planner = Agent.objects.select_for_update().select_related("task").filter(pk=planner_id).first()
        if planner is None or not planner.waiting_on_workers:
            return False
        children = list(planner.children.filter(name__in=planner.waited_names).select_related("task"))
        if not all(settled(c) for c in children):
            return False
        services.inject_message(planner, f"The workers you waited for have settled: {report(children)}.")
        try:
            services.resume(planner, "its workers settled")
        except ServiceError as exc:
            log.info("planner %s not resumed: %s", planner_id, exc)
            return False
    return True


def _on_change(sender, agent_id: int, **kwargs) -> None:
    """A worker's change may settle its planner's wait; a planner that just paused to wait may have nobody left to
    wait for (they settled between its wait_for and its pause). A planner still waiting shows the change: its pill
    counts the workers it waits for that still work."""
    row = Agent.objects.filter(pk=agent_id).values("parent_id", "status", "status_reason").first()
    if row is None:
        return
    if row["status"] == Agent.Status.PAUSED and row["status_reason"].startswith(Agent.WAIT_PAUSE):
        wake(agent_id)
    if row["parent_id"] and not wake(row["parent_id"]):
        waiting = Agent.objects.filter(pk=row["parent_id"], status=Agent.Status.PAUSED)
        if waiting.filter(status_reason__startswith=Agent.WAIT_PAUSE).exists():
            events.broadcast_state(row["parent_id"])


status_changed.connect(_on_change, dispatch_uid="agents.planner.wake_on_status")
awaiting_decision.connect(_on_change, dispatch_uid="agents.planner.wake_on_verdict")


# a person acts on a node or its whole subtree


def act_on_subtree(agent: Agent, action: str, by: str, text: str = "", author=None) -> int:
    """Pause, stop or message the agent and every agent below it; returns how many it reached (those the action
    does not apply to, say a finished or an idle one, are passed over). Refused when it reaches none."""
    if action not in {"pause", "stop", "message"}:
        raise ServiceError(f"unknown action {action!r}; use pause, stop or message")
    if action == "message" and not (text or "").strip():
        raise ServiceError("A message needs some text.")
    reached = 0
    for node in subtree(agent):
        if node.finished or (action == "pause" and node.pause_refusal()):
            continue
        if action == "stop":
            services.stop(node, by)
        elif action == "pause":
            services.pause(node, by)
        else:
            services.inject_message(node, text, author=author)
        reached += 1
    if not reached:
        raise ServiceError(f"nothing to {action} in {agent.name}'s subtree", 409)
    return reached


@dataclass
class Node:
    agent: Agent
    children: list[Node] = field(default_factory=list)

    @property
    def spawned(self) -> list[Agent]:
        return [child.agent for child in self.children]

    @property
    def descendants(self) -> int:
        return sum(1 + child.descendants for child in self.children)


def tree(task: TaskSpec) -> list[Node]:
    """The task's agents as a forest: each launched agent (the planner) with the agents it spawned below it. One
    query: what the tree page shows of each is read from it (nodes() walks it)."""
    agents = list(task.agents.select_related("profile").order_by("id"))
    Agent.share_budget_tree(agents, whole_task=True)  # each one's budget rule reads the tree from these
    nodes = {a.pk: Node(a) for a in agents}
    roots = []
    for agent in agents:
        agent.task = task  # one task row for every node's budget
        (nodes[agent.parent_id].children if agent.parent_id in nodes else roots).append(nodes[agent.pk])
    return roots


def nodes(roots: list[Node]) -> list[Node]:
    """Every node of the forest, each planner before the agents below it."""
    return [n for root in roots for n in (root, *nodes(root.children))]
