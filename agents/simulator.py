"""The offline simulator's behaviours: deterministic scripted agents, reached through litellm as `sim/<behaviour>`.

Pure policy: given the conversation, decide the next assistant turn. `agents.llm` wraps it as a litellm
custom provider so simulated agents travel the same path as real models.
"""

from __future__ import annotations

import json
import re

BEHAVIOURS = ("diligent", "lazy", "quitter", "guesser", "looper")
INJECTED_PREFIX = "[Message from "
NUDGE_MARK = "[Swarm runtime]"

# The demo repository's bug and its fix (see agents/demo.py): the diligent simulator carries the solution.
DEMO_FIX = {
    "path": "mathutil.py",
    "old": "return sum(values) / (len(values) - 1)",
    "new": "return sum(values) / len(values)",
}


def _call(name: str, **args) -> dict:
    return {"name": name, "arguments": args}


def _verify_command(messages: list[dict]) -> str:
    for m in messages:
        if m.get("role") == "system":
            found = re.search(r"Verify command: `([^`]+)`", m.get("content") or "")
            if found:
                return found.group(1)
    return "python -m pytest -q"


def _agent_name(messages: list[dict]) -> str:
    for m in messages:
        if m.get("role") == "system":
            found = re.search(r"You are (\w+)", m.get("content") or "")
            if found:
                return found.group(1)
    return "agent"


def _diligent_script(verify: str) -> list[dict]:
    return [
        _call("list_files", path="."),
        _call("read_file", path="mathutil.py"),
        _call("read_file", path="tests/test_mathutil.py"),
        _call("run_command", command=verify),
        _call("edit_file", **DEMO_FIX),
        _call("run_command", command=verify),
        _call("submit", summary="Fixed mean(): it divided by n-1 instead of n. The verify command passes."),
    ]


def _pending_injections(messages: list[dict]) -> list[str]:
    """Injected messages that arrived after the last assistant turn."""
    pending = []
    for m in reversed(messages):
        if m.get("role") == "assistant":
            break
        if m.get("role") == "user" and (m.get("content") or "").startswith(INJECTED_PREFIX):
            pending.append(m["content"])
    return list(reversed(pending))


def decide(behaviour: str, messages: list[dict]) -> dict:
    """Return {"content": str, "tool_calls": [{"name", "arguments"}]} for the next turn."""
    verify = _verify_command(messages)
    name = _agent_name(messages)
    done = sum(1 for m in messages if m.get("role") == "tool")
    nudged = any(NUDGE_MARK in (m.get("content") or "") for m in messages if m.get("role") == "user")
    injected = _pending_injections(messages)
    reply = ""
    if injected:
        quoted = injected[-1].split("] ", 1)[-1][:200]
        reply = f'{name} here: I read your message ("{quoted}") and I am taking it into account. '

    if behaviour == "lazy":
        call = _call("submit", summary="All done, everything works perfectly.")
        return {"content": reply + "This is finished.", "tool_calls": [call]}

    if behaviour == "looper":
        return {"content": reply + "Let me look at the files again.", "tool_calls": [_call("list_files", path=".")]}

    if behaviour == "guesser":
        script = [_call("edit_file", **DEMO_FIX), *_diligent_script(verify)[3:]]
    else:
        script = _diligent_script(verify)

    if behaviour == "quitter" and done == 2 and not nudged:
        return {"content": reply + "This is taking a while. I'll stop here to save tokens.", "tool_calls": []}

    if done < len(script):
        call = script[done]
    else:
        # after a rejection: check again, then submit again
        call = script[-3] if (done - len(script)) % 2 == 0 else script[-1]
    thought = {
        "list_files": "Let me see what is in the repository.",
        "read_file": f"Reading {call['arguments'].get('path')} before I change anything.",
        "run_command": "Running the verify command.",
        "edit_file": f"Editing {call['arguments'].get('path')}.",
        "submit": "The verify command passes; submitting for verification.",
    }[call["name"]]
    return {"content": reply + thought, "tool_calls": [call]}


def as_openai_tool_calls(calls: list[dict], step: int) -> list[dict]:
    return [
        {
            "id": f"sim-{step}-{i}",
            "type": "function",
            "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
        }
        for i, c in enumerate(calls)
    ]
