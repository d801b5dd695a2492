"""A judge that investigates: a model profile marked `investigates` judges as an agent with read-only tools, in a
throwaway sandboxed checkout of exactly the submitted commit. It lists, reads and searches files and runs commands
(tests the submission did not mention, say); nothing it changes is kept or reaches any branch (the checkout is
removed after). Each call it made is recorded (`Judgement.checked`) and its verdict quotes that evidence; its cost
and time are counted on the judgement like any judge's.

Repository text and command output reach it as tool results: data, never instructions (said in its prompt).
"""

from __future__ import annotations

import json
import time

from django.conf import settings

from agents import sandbox, services, worktrees
from agents.tool_errors import ToolRefused
from judges import panel
from judges.models import Judgement, Verdict

READ_ONLY = {"list_files", "read_file", "search", "run_command"}
VERDICT_TOOL = {
    "type": "function",
    "function": {
        "name": "give_verdict",
        "description": "End the investigation with your judgement, quoting what you checked as evidence.",
        "parameters": {
            "type": "object",
            "properties": {
                "recommendation": {"type": "string", "enum": sorted(panel.RECOMMENDATIONS)},
                "checklist": {"type": "array", "items": {"type": "object"}},
                "reasons": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["recommendation", "checklist", "reasons"],
        },
    },
}
MAX_RESULT = 6_000  # of each tool result the judge reads; the record keeps 800 characters of it
GUIDE = (
    "You judge as an investigator: you have a checkout of exactly the submitted commit and read-only tools"
    " (list_files, read_file, search, run_command in a sandbox; nothing you change is kept). Do not trust the"
    " agent's summary or the verify command alone: read the changed code, and run the tests that could break,"
    " including ones the submission did not mention. Then call give_verdict; every reason and checklist item"
    " quotes what you saw (a command and its result, a file and line)."
)


def investigate(verdict: Verdict, judge, evidence: dict, diff: str, source: str) -> Judgement:
    """Judge `verdict` with tools in a checkout of its commit made from `source` (the repository or a clone)."""
    from agents import llm, tools  # litellm (through both): imported where a judge is asked, not at start-up

    judge_tools = [t for t in tools.TOOLS if t["function"]["name"] in READ_ONLY] + [VERDICT_TOOL]

    started = time.monotonic()
    messages = panel.judge_prompt(judge, verdict.agent.task, evidence, diff)
    messages[0]["content"] += "\n\n" + GUIDE
    checked: list[dict] = []
    used = {"tokens": 0, "cost": 0.0}
    opinion, error = None, ""
    with worktrees.detached(source, verdict.commit_sha, f"judge-{judge.name}") as checkout:
        for _turn in range(settings.SWARM_JUDGE_AGENT_TURNS):
            try:
                turn = llm.complete(judge, messages, judge_tools)
            except llm.ModelError as exc:
                error = str(exc)
                break
            used["tokens"] += turn.tokens_in + turn.tokens_out
            used["cost"] += turn.cost_usd
            messages.append(turn.as_message())
            opinion, error = _answer(turn, messages, checked, str(checkout), evidence.get("taste"))
            if opinion is not None:
                break
        else:
            error = error or f"no verdict after {settings.SWARM_JUDGE_AGENT_TURNS} turns"
    common = {
        "verdict": verdict,
        "judge": judge.name,
        "model": judge.model,
        "family": judge.family,
        "checked": services.clean_payload(checked),
        "tokens": used["tokens"],
        "cost_usd": round(used["cost"], 6),
        "seconds": round(time.monotonic() - started, 2),
    }
    if opinion is None:
        error = error or "the investigation ended without a verdict"
        return Judgement(
            **common,
            recommendation="error",
            error=services.clean_text(error, 2000),
            reasons=[f"the judge failed: {error[:300]}"],
        )
    return Judgement(**common, **services.clean_payload(opinion))


def _answer(
    turn, messages: list[dict], checked: list[dict], checkout: str, taste: list[str] | None = None
) -> tuple[dict | None, str]:
    """Carry out one turn's calls; (the opinion, "") once it gave one, else (None, what was wrong so far)."""
    if not turn.tool_calls:  # a plain answer: the panel's JSON, as a plain judge gives it
        try:
            return panel.parse_opinion(turn.content or "", taste), ""
        except (ValueError, json.JSONDecodeError) as exc:
            messages.append({"role": "user", "content": f"Call a tool, or give_verdict. ({exc})"})
            return None, f"malformed verdict: {exc}"
    for call in turn.tool_calls:
        if call.name == "give_verdict":
            try:
                return panel.parse_opinion(json.dumps(call.arguments), taste), ""
            except ValueError as exc:
                messages.append({"role": "tool", "tool_call_id": call.id, "content": f"REFUSED: {exc}"})
                continue
        result = _run(call, checkout)
        checked.append({"tool": call.name, "args": call.arguments, "result": _excerpt(result)})
        messages.append({"role": "tool", "tool_call_id": call.id, "content": services.clean_text(result, MAX_RESULT)})
    return None, ""


def _excerpt(result: str) -> str:
    """What the record keeps of a result: its start and its end (a command's verdict is at the end)."""
    return result if len(result) <= 800 else f"{result[:200]}\n…\n{result[-600:]}"


def _run(call, checkout: str) -> str:
    if call.error:
        return f"REFUSED: {call.error}"
    if call.name not in READ_ONLY:
        return f"REFUSED: a judge has only {', '.join(sorted(READ_ONLY))} and give_verdict"
    from agents import tools

    try:
        return tools.execute(checkout, call.name, call.arguments, files_read=set()).result
    except ToolRefused as exc:
        return f"REFUSED: {exc}"
    except sandbox.SandboxUnavailable as exc:
        return f"REFUSED: commands are disabled: {exc}"
