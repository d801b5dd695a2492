"""The offline simulator's planner and the workers it spawns, reached as `sim/planner` and `sim/fixer` (the litellm
provider dispatches here; agents/simulator.py holds the other behaviours).

`planner` reads the repository, runs the verify command, spawns one worker per failing test file (a subtask whose
verify command runs only that file; with three or more and depth to spare, one worker and a sub-planner for the rest,
which does the same one level down), waits for them, reads each handoff, runs the whole suite on its branch (where
their approved work was merged) and submits with a handoff. `fixer` fixes exactly the defect of its subtask's test
file (DEFECTS: the planner demo's, agents/demo_planner.py) and submits with a written handoff.
"""

from __future__ import annotations

import json
import re

from agents.simulator import _agent_name, _verify_command

BEHAVIOURS = ("planner", "fixer")

# each failing test file -> the fix the simulated fixer makes (agents/demo_planner.py's repository)
DEFECTS = {
    "tests/test_stats.py": {
        "path": "stats.py",
        "old": "return sum(values) / (len(values) - 1)",
        "new": "return sum(values) / len(values)",
        "why": "mean() divided by n-1 instead of n",
    },
    "tests/test_money.py": {
        "path": "money.py",
        "old": "return int(amount * 100)",
        "new": "return round(amount * 100)",
        "why": "to_cents() truncated 28.999… to 28 instead of rounding",
    },
    "tests/test_names.py": {
        "path": "names.py",
        "old": 'return "".join(word[0] for word in name.split()).lower()',
        "new": 'return "".join(word[0] for word in name.split()).upper()',
        "why": "initials() lower-cased the initials",
    },
}

SUB_PLANNER_FROM = 3  # failing test files from which a planner that may go two levels deeper spawns a sub-planner
WORKER_NAMES = ("Ada", "Grace", "Linus", "Barbara", "Ken", "Radia", "Edsger", "Frances")
FAILED = re.compile(r"^FAILED (tests/[\w/]+\.py)::", re.M)


def _worker_name(path: str, i: int) -> str:
    """A name per test file, the same whichever planner of the tree spawns its worker (names are unique in a task)."""
    known = sorted(DEFECTS)
    return WORKER_NAMES[(known.index(path) if path in known else len(known) + i) % len(WORKER_NAMES)]


def _call(tool: str, **args) -> dict:
    return {"name": tool, "arguments": args}


def decide(behaviour: str, messages: list[dict]) -> dict:
    return planner(messages) if behaviour == "planner" else fixer(messages)


def _history(messages: list[dict]) -> list[tuple[str, dict, str]]:
    """Each tool call made so far with its arguments and its result, in order."""
    results = {m.get("tool_call_id"): m.get("content") or "" for m in messages if m.get("role") == "tool"}
    calls = []
    for m in messages:
        for c in m.get("tool_calls") or [] if m.get("role") == "assistant" else []:
            try:
                args = json.loads(c["function"]["arguments"] or "{}")
            except (TypeError, ValueError):
                args = {}
            calls.append((c["function"]["name"], args, results.get(c.get("id"), "")))
    return calls


def _system(messages: list[dict]) -> str:
    return next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")


def _turn(text: str, *calls: dict) -> dict:
    return {"content": text, "tool_calls": list(calls)}


def planner(messages: list[dict]) -> dict:
    history = _history(messages)
    done = [name for name, _, _ in history]
    verify = _verify_command(messages)
    if "list_files" not in done:
        return _turn("Let me see what is in the repository.", _call("list_files", path="."))
    if "run_command" not in done:
        return _turn("Running the verify command to see what fails.", _call("run_command", command=verify))
    if "spawn_worker" not in done:
        failing = sorted(set(FAILED.findall(next(r for n, _, r in history if n == "run_command"))))
        if not failing:
            return _turn("Nothing fails.", _call("submit", summary="Nothing to fix: the verify command passes."))
        profile = re.search(r"Worker profiles you may choose from: ([\w-]+)", _system(messages))
        cycle = re.search(r"This is your cycle (\d+)\.", _system(messages))
        suffix = cycle.group(1) if cycle and cycle.group(1) != "1" else ""  # new names in a new cycle
        spawns = [
            _call(
                "spawn_worker",
                name=_worker_name(path, i) + suffix,
                profile=profile.group(1) if profile else "sim-fixer",
                subtask=f"Make {path} pass: fix the defect its failing test shows in the code, and nothing else.",
                acceptance=[f"`python -m pytest -q {path}` passes", "No test is weakened or deleted"],
                verify_command=f"python -m pytest -q {path}",
            )
            for i, path in enumerate(failing)
        ]
        own = re.search(r"Your own profile, which a sub-planner \(role 'planner'\) gets: ([\w-]+)\.", _system(messages))
        depths = re.search(r"tree depth at most (\d+) \(you are at depth (\d+)\)", _system(messages))
        if own and depths and len(failing) >= SUB_PLANNER_FROM and int(depths[1]) - int(depths[2]) >= 2:
            # a large defect set: one worker here, the rest to one sub-planner (whose workers are a level deeper)
            rest = " ".join(failing[1:])
            spawns[1:] = [
                _call(
                    "spawn_worker",
                    name="Sub" + suffix,
                    role="planner",
                    profile=own[1],
                    subtask=f"Make {rest} pass: split it among workers of your own, one per failing test file.",
                    acceptance=[f"`python -m pytest -q {rest}` passes", "No test is weakened or deleted"],
                    verify_command=f"python -m pytest -q {rest}",
                )
            ]
        plan = "; ".join(f"{c['arguments']['name']}: {c['arguments']['verify_command']}" for c in spawns)
        return _turn(f"Plan: one independent defect per failing test file. {plan}", *spawns)
    spawned = [a["name"] for n, a, r in history if n == "spawn_worker" and r.startswith("spawned")]
    if "wait_for" not in done:
        return _turn("Waiting for my workers.", _call("wait_for", names=spawned))
    if "read_handoff" not in done:
        return _turn("Reading their handoffs.", *[_call("read_handoff", name=n) for n in spawned])
    runs = done.count("run_command")
    if runs < 2 or (done[-1] == "submit"):
        call = _call("run_command", command=verify)
        return _turn("Running the whole suite on my branch, with their work merged.", call)
    read = [r for n, _, r in history if n == "read_handoff"]
    merged = [n for n in spawned if any(r.startswith(f"{n} is accepted") for r in read)]
    handoff = (
        f"Changed: integrated {', '.join(spawned)}'s fixes, one subtask each, merged into my branch. "
        f"Verified: `{verify}` on my branch (exit code shown in my last run). Left: "
        + (
            ", ".join(sorted(set(spawned) - set(merged))) + " not merged yet."
            if set(spawned) - set(merged)
            else "nothing."
        )
        + " Unsure: nothing."
    )
    summary = f"Integrated the work of {len(spawned)} workers, one per failing test file."
    return _turn("Submitting my branch.", _call("submit", summary=summary, handoff=handoff))


def fixer(messages: list[dict]) -> dict:
    verify = _verify_command(messages)
    test = next((path for path in DEFECTS if path in verify), "")
    fix = DEFECTS.get(test)
    name = _agent_name(messages)
    done = len(_history(messages))
    if fix is None:
        script = [
            _call("run_command", command=verify),
            _call("submit", summary="I could not find my subtask's defect."),
        ]
    else:
        script = [
            _call("read_file", path=test),
            _call("read_file", path=fix["path"]),
            _call("run_command", command=verify),
            _call("edit_file", path=fix["path"], old=fix["old"], new=fix["new"]),
            _call("run_command", command=verify),
            _call(
                "submit",
                summary=f"Fixed {fix['path']}: {fix['why']}",
                handoff=(
                    f"Changed: {fix['path']} ({fix['why']}). Verified: `{verify}` passes. Left: nothing in my subtask."
                    f" Unsure: whether other callers relied on the old behaviour of {fix['path']}."
                ),
            ),
        ]
    call = script[min(done, len(script) - 1)]
    return _turn(f"{name}: step {done + 1} of my subtask.", call)
