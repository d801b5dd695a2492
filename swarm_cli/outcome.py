"""What a task came to, for a pipeline: the exit codes of `swarm run --wait` and `swarm follow task`, the progress
lines they print while they wait, and the polling wait used when the server's live socket cannot be (live.py)."""

from __future__ import annotations

import sys
import time

APPROVED, REJECTED, FAILED, TIMED_OUT = 0, 1, 2, 3
USAGE = 64  # the command line itself is wrong (EX_USAGE of sysexits.h): nothing was asked of the server
NAMES = {APPROVED: "approved", REJECTED: "rejected", FAILED: "failed", TIMED_OUT: "timed out"}
CODES = (
    "exit codes: 0 approved (or done), 1 rejected, 2 failed (or the server refused: its sentence on stderr),\n"
    "3 timed out, 64 a usage error (a wrong command line)"
)
WORKING = {"queued", "preparing", "running"}  # statuses in which an agent still works on its own
ENDED = {"accepted", "stopped", "error"}  # statuses in which it does nothing more unless a person acts


def decide(task: dict, verdicts: list[dict]) -> int | None:
    """The task's outcome now, or None while it may still change without anyone acting:
    approved once any verdict is approved; rejected when every agent's latest verdict was rejected and none is
    pending; failed when every agent ended (accepted, stopped, error) without an approved verdict.
    Only the agents whose work lands on the task's target count: a planner's, not the workers it spawned (their
    approved work goes into the planner's branch)."""
    top = {a["id"] for a in task["agents"] if a.get("spawned_by") is None}
    task = {**task, "agents": [a for a in task["agents"] if a["id"] in top]}
    verdicts = [v for v in verdicts if v["agent"]["id"] in top]
    if any(v["status"] == "approved" for v in verdicts):
        return APPROVED
    if any(v["status"] == "pending" for v in verdicts):
        return None
    agents = task["agents"]
    if not agents:
        return None if task.get("launched_at") else FAILED
    latest: dict[int, dict] = {}
    for v in sorted(verdicts, key=lambda v: (v["created_at"], v["id"])):
        latest[v["agent"]["id"]] = v
    if len(latest) == len(agents) and all(v["status"] == "rejected" for v in latest.values()):
        return REJECTED
    if all(a["status"] in ENDED for a in agents):
        return FAILED
    return None


def line(agent: dict) -> str:
    usage = agent["usage"]
    parts = [f"{agent['name']:<12}", f"{agent['status'].replace('_', ' '):<16}", f"step {usage['steps']}"]
    parts += [f"{usage['tokens']:,} tokens", f"${usage['cost_usd']:.2f}"]
    if agent.get("activity"):
        parts.append(agent["activity"][:60])
    if agent.get("waiting_for"):
        parts.append(f"waits for: {agent['waiting_for']}")
    return "  ".join(parts)


def every(client, path: str, key: str, per_page: int = 200, **query) -> list[dict]:
    """Every item of a paged API list, page after page (its `page` and `pages` fields)."""
    items, page, pages = [], 1, 1
    while page <= pages:
        answer = client.get(path, per_page=per_page, page=page, **query)
        items += answer[key]
        page, pages = page + 1, answer.get("pages", 1)
    return items


def read(client, task_id: int) -> tuple[dict, list[dict]]:
    """The task and every verdict of it, as the API has them now (every page: an approval may be on a later one)."""
    return client.get(f"tasks/{task_id}"), every(client, "verdicts", "verdicts", status="all", task=task_id)


def show(agents: list[dict], shown: dict[int, str], out=sys.stdout) -> None:
    """Print each agent's progress line that changed since it was last shown."""
    for agent in agents:
        text = line(agent)
        if shown.get(agent["id"]) != text:
            shown[agent["id"]] = text
            print(f"{time.strftime('%H:%M:%S')}  {text}", file=out, flush=True)


def conclude(task_id: int, task: dict, verdicts: list[dict], out=sys.stdout) -> int | None:
    """The outcome (decide), with the task's verdicts and the outcome printed once there is one."""
    code = decide(task, verdicts)
    if code is not None:
        for v in verdicts:
            print(f"verdict {v['id']}: {v['agent']['name']} {v['status']} ({v['recommendation']})", file=out)
        print(f"task {task_id}: {NAMES[code]}", file=out, flush=True)
    return code


def report(client, task_id: int, out=sys.stdout) -> int | None:
    """`conclude` on what the API says now: the source of truth, whatever a live socket showed."""
    return conclude(task_id, *read(client, task_id), out)


def wait(client, task_id: int, timeout: float, interval: float = 1.0, out=sys.stdout) -> int:
    """Poll the task and its verdicts, print each agent's progress when it changes, and return the exit code: what
    `swarm follow task` does when the server will not open its live socket."""
    deadline = time.monotonic() + timeout
    shown: dict[int, str] = {}
    while True:
        task, verdicts = read(client, task_id)
        show(task["agents"], shown, out)
        code = conclude(task_id, task, verdicts, out)
        if code is not None:
            return code
        if time.monotonic() >= deadline:
            print(f"task {task_id}: timed out after {timeout:g} s", file=out, flush=True)
            return TIMED_OUT
        time.sleep(interval)
