"""The offline simulator's behaviours: deterministic scripted agents, reached through litellm as `sim/<behaviour>`.

Pure policy: given the conversation, decide the next assistant turn. `agents.llm` wraps it as a litellm
custom provider so simulated agents travel the same path as real models.
"""

from __future__ import annotations

import json
import re

from agents.prompts import INJECTED_PREFIX, NUDGE_MARK, SKILL_DRAFT_MARK

BEHAVIOURS = (
    "diligent",
    "lazy",
    "quitter",
    "guesser",
    "looper",
    "sloppy",
    "steady",
    "curious",
    "judge",
    "investigator",
    "judge-lenient",
)

# The demo repository's bug and its fix (see agents/demo.py): the diligent simulator carries the solution.
DEMO_FIX = {
    "path": "mathutil.py",
    "old": "return sum(values) / (len(values) - 1)",
    "new": "return sum(values) / len(values)",
}
# what the sloppy simulator submits first: it changes the line but not the cause
WRONG_FIX = {"path": "mathutil.py", "old": DEMO_FIX["old"], "new": "return sum(values) / (len(values) - 0.5)"}
REJECTED_MARK = "rejected your submission"


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

    if messages and SKILL_DRAFT_MARK in str(messages[0].get("content") or ""):
        return {"content": skill_draft(messages), "tool_calls": []}

    if behaviour == "investigator":
        return investigator(messages)

    if behaviour.startswith("judge"):
        return {"content": json.dumps(judge(behaviour, messages)), "tool_calls": []}

    if behaviour == "lazy":
        call = _call("submit", summary="All done, everything works perfectly.")
        return {"content": reply + "This is finished.", "tool_calls": [call]}

    if behaviour == "steady":
        return steady(messages)

    if behaviour == "curious":
        return curious(messages, verify)

    if behaviour == "looper":
        return {"content": reply + "Let me look at the files again.", "tool_calls": [_call("list_files", path=".")]}

    if behaviour == "sloppy":
        rejected = any(REJECTED_MARK in (m.get("content") or "") for m in messages if m.get("role") == "user")
        if not rejected:
            script = [
                _call("read_file", path="mathutil.py"),
                _call("edit_file", **WRONG_FIX),
                _call("submit", summary="Fixed mean()."),
            ]
        else:
            since = done - 3
            script = [
                _call("read_file", path="mathutil.py"),
                _call("edit_file", path="mathutil.py", old=WRONG_FIX["new"], new=DEMO_FIX["new"]),
                _call("run_command", command=verify),
                _call("submit", summary="Fixed mean() properly: divide by n. The verify command passes."),
            ]
            call = script[min(since, len(script) - 1)]
            return {"content": reply + _thought(call), "tool_calls": [call]}
        call = script[min(done, len(script) - 1)]
        return {"content": reply + _thought(call), "tool_calls": [call]}

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
    return {"content": reply + _thought(call), "tool_calls": [call]}


QUESTION = "Should mean() divide by n (the plain average) or by n-1 (a sample estimate)? The spec does not say."


def _answer(messages: list[dict]) -> str:
    """The first person's message after the agent's question, without its sender mark; "" before one came."""
    asked = False
    for m in messages:
        if m.get("role") == "assistant" and QUESTION in json.dumps(m.get("tool_calls") or []):
            asked = True
        elif asked and m.get("role") == "user" and (m.get("content") or "").startswith(INJECTED_PREFIX):
            return m["content"].split("] ", 1)[-1].strip()
    return ""


def curious(messages: list[dict], verify: str) -> dict:
    """`curious` reads the code, asks a person which denominator mean() should use, and does what the answer says:
    keep n-1 when the answer names it, else divide by n."""
    done = sum(1 for m in messages if m.get("role") == "tool")
    reading = [_call("list_files", path="."), _call("read_file", path="mathutil.py")]
    if done < len(reading):
        return {"content": _thought(reading[done]), "tool_calls": [reading[done]]}
    answer = _answer(messages)
    if not answer:
        call = _call("ask_person", question=QUESTION)
        return {"content": "Before I change anything I need a decision from a person.", "tool_calls": [call]}
    keep = "n-1" in answer.replace(" ", "").lower() or "sample" in answer.lower()
    choice = "keep dividing by n-1" if keep else "divide by n"
    rest = [_call("read_file", path="tests/test_mathutil.py"), _call("run_command", command=verify)]
    if not keep:
        rest += [_call("edit_file", **DEMO_FIX), _call("run_command", command=verify)]
    rest.append(_call("submit", summary=f"As the answer said ({answer[:120]}), mean() should {choice}."))
    call = rest[min(done - len(reading) - 1, len(rest) - 1)]
    return {"content": f'You answered "{answer[:200]}", so I will {choice}. ' + _thought(call), "tool_calls": [call]}


def steady(messages: list[dict]) -> dict:
    """`steady`, the fleet benchmark's agent: one cheap tool call a turn, forever. Turn k writes notes/turn-k.md and
    says so, so a watcher can tell from the activity shown which turn an agent's card is at."""
    turn = 1 + sum(1 for m in messages if m.get("role") == "assistant")
    call = _call("write_file", path=f"notes/turn-{turn}.md", content=f"note {turn}\n")
    return {"content": f"Turn {turn}: writing a note.", "tool_calls": [call]}


def _thought(call: dict) -> str:
    return {
        "list_files": "Let me see what is in the repository.",
        "read_file": f"Reading {call['arguments'].get('path')} before I change anything.",
        "run_command": "Running the verify command.",
        "edit_file": f"Editing {call['arguments'].get('path')}.",
        "submit": "Submitting for verification.",
    }[call["name"]]


def as_openai_tool_calls(calls: list[dict], step: int) -> list[dict]:
    return [
        {
            "id": f"sim-{step}-{i}",
            "type": "function",
            "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
        }
        for i, c in enumerate(calls)
    ]


def _evidence(messages: list[dict]) -> dict:
    for m in messages:
        found = re.search(r"<evidence>\s*(\{.*\})\s*</evidence>", m.get("content") or "", re.S)
        if found:
            return json.loads(found.group(1))
    return {}


SUITE = "python -m pytest -q"


def investigator(messages: list[dict]) -> dict:
    """`investigator`, a judge with tools: runs the whole test suite in its checkout of the submission (not only the
    task's verify command), then gives its verdict quoting the result."""
    ran = [m.get("content") or "" for m in messages if m.get("role") == "tool"]
    if not ran:
        call = _call("run_command", command=SUITE)
        return {"content": "Running the whole test suite, not only the verify command.", "tool_calls": [call]}
    exit_code = re.search(r"\[exit code (-?\d+)\]", ran[-1])
    passed = bool(exit_code) and exit_code.group(1) == "0"
    lines = [line for line in ran[-1].splitlines() if line.strip() and not line.startswith(("$ ", "[exit code"))]
    failing = [line for line in lines if line.startswith("FAILED")]
    result = f"`{SUITE}`: {lines[-1] if lines else 'no output'}" + (f" ({'; '.join(failing[:3])})" if failing else "")
    ev = _evidence(messages)
    status = "met" if passed else "not_met"
    checklist = [
        {"kind": "criterion", "item": c, "status": status, "evidence": result} for c in ev.get("acceptance", [])
    ]
    checklist += [
        {"kind": "taste", "item": r, "status": "unknown", "evidence": "not checked"} for r in ev.get("taste", [])
    ]
    verdict = {
        "recommendation": "approve" if passed else "reject",
        "checklist": checklist,
        "reasons": [f"I ran the whole suite in a checkout of the submission: {result}"],
    }
    return {"content": "Giving my verdict.", "tool_calls": [_call("give_verdict", **verdict)]}


def judge(behaviour: str, messages: list[dict]) -> dict:
    """A simulated judge. `judge` reads all the evidence; `judge-lenient` (another "family") trusts the verify
    command and looks no further.

    Both answer in the panel's JSON schema and score only what the evidence lets them check, quoting it; a
    criterion or taste rule they cannot check is "unknown" with "not checked: …", never "met".
    """
    ev = _evidence(messages)
    strict = behaviour == "judge"
    verify = ev.get("verify") or {}
    passed = verify.get("exit_code") == 0
    tail = (verify.get("output") or "").strip().splitlines()[-1:] or ["(no output)"]
    findings: list[str] = []
    if not passed:
        findings.append(f"the verify command failed: {tail[0]}")
    if not ev.get("diff_stat"):
        findings.append("the submission changes no file")
    if strict:
        if ev.get("tests_removed") or ev.get("assertions_removed"):
            findings.append(f"tests were weakened: {_removed(ev)}")
        findings += [f"a test no longer counts: {flag}" for flag in (ev.get("test_flags") or [])[:3]]
        findings += [f"expected output looks hard-coded: `{line}`" for line in ev.get("hardcoded_suspects", [])[:3]]
    checklist = []
    for kind, items in (("criterion", ev.get("acceptance", [])), ("taste", ev.get("taste", []))):
        for item in items:
            status, quote = _score(item, ev, strict, passed, tail[0])
            checklist.append({"kind": kind, "item": item, "status": status, "evidence": quote})
            if status == "not_met" and not any(quote in f for f in findings):
                findings.append(f"{kind} not met ({item}): {quote}")
    if findings:
        recommendation = "reject"
    elif strict and ev.get("sensitive_paths"):
        recommendation = "needs_person"
        findings.append("sensitive paths changed: " + ", ".join(ev["sensitive_paths"]))
    else:
        recommendation = "approve"
        findings.append(f"the verify command passed: {tail[0]}")
    unchecked = [c["item"] for c in checklist if c["status"] == "unknown"]
    if unchecked:
        findings.append("not checked: " + "; ".join(unchecked))
    return {"recommendation": recommendation, "checklist": checklist, "reasons": findings}


def _removed(ev: dict) -> str:
    return f"{ev.get('tests_removed', 0)} test functions and {ev.get('assertions_removed', 0)} assertions removed"


def _score(item: str, ev: dict, strict: bool, passed: bool, tail: str) -> tuple[str, str]:
    """(met | not_met | unknown, the quote) for one criterion or taste rule, from what the evidence shows."""
    text = item.lower()
    flags = ev.get("test_flags") or []
    check = next((c for c in ev.get("criterion_checks", []) if c.get("criterion") == item), None)
    if check is not None:  # the criterion's own command said it
        return (
            "met" if check.get("exit_code") == 0 else "not_met"
        ), f"`{check.get('command')}` exit {check.get('exit_code')}"
    if "suite passes" in text or "tests pass" in text:
        if not passed:
            return "not_met", tail
        return ("not_met", flags[0]) if strict and flags else ("met", tail)
    if strict and "test" in text and re.search(r"weaken|delet|skip|remov", text):
        if ev.get("tests_removed") or ev.get("assertions_removed"):
            return "not_met", _removed(ev)
        if flags:
            return "not_met", flags[0]
        compared = ev.get("test_comparison") or {}
        if compared.get("compared"):
            ran = sum(n for outcome, n in compared.get("base", {}).items() if outcome in ("passed", "failed", "error"))
            return "met", f"{ran} tests ran at the base commit and every one still runs; no assertion removed"
        return "unknown", f"not checked: {compared.get('why') or 'no comparison with the base commit'}"
    if strict and "print" in text:
        prints = [line for line in ev.get("added_lines", []) if "print(" in line]
        return (
            ("not_met", prints[0])
            if prints
            else ("met", f"no print( in the {len(ev.get('added_lines', []))} added lines")
        )
    if strict and ev.get("hardcoded_suspects") and re.search(r"symptom|hard.?cod", text):
        return "not_met", ev["hardcoded_suspects"][0]
    return "unknown", "not checked: nothing in the evidence shows it"


def skill_draft(messages: list[dict]) -> str:
    """A SKILL.md made, deterministically, from the run's facts the request carries (judges/skill_draft.py)."""
    from agents.skill_format import compose

    try:
        facts = json.loads(messages[-1].get("content") or "{}")
    except ValueError:
        facts = {}
    name = re.sub(r"[^a-z0-9]+", "-", str(facts.get("task", "")).lower()).strip("-")[:48].strip("-") or "approved-run"
    bullets = lambda items, fmt="{}": "\n".join(f"- {fmt.format(i)}" for i in items) or "- (none recorded)"  # noqa: E731
    body = (
        f"Learned from an approved run of “{facts.get('task', '')}”.\n\n"
        f"## Read first\n{bullets(facts.get('read_first', []), '`{}`')}\n\n"
        f"## Verify\n{bullets(facts.get('verified_with', []) or [facts.get('verify_command', '')], '`{}`')}\n\n"
        f"## What the judges praised\n{bullets(facts.get('judges_praised', []))}\n\n"
        f"## What the reviewer said\n> {facts.get('reviewer_said') or '(no comment)'}"
    )
    return compose(
        f"{name}-way", f"How the approved run of {facts.get('task', 'a task')} worked. Use on similar tasks.", body
    )
