"""What a task came to, for a pipeline: the exit codes of `swarm run --wait` and `swarm follow task`, and the
live progress lines they print while they wait (polling the API)."""

from __future__ import annotations

import sys
import time

APPROVED, REJECTED, FAILED, TIMED_OUT = 0, 1, 2, 3
NAMES = {APPROVED: "approved", REJECTED: "rejected", FAILED: "failed", TIMED_OUT: "timed out"}
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


def wait(client, task_id: int, timeout: float, interval: float = 1.0, out=sys.stdout) -> int:
    """Poll the task and its verdicts, print each agent's progress when it changes, and return the exit code."""
    deadline = time.monotonic() + timeout
    shown: dict[int, str] = {}
    while True:
        task = client.get(f"tasks/{task_id}")
        verdicts, page, pages = [], 1, 1
        while page <= pages:  # every page: an approval may be on a later one
            answer = client.get("verdicts", status="all", task=task_id, per_page=200, page=page)
            verdicts += answer["verdicts"]
            page, pages = page + 1, answer.get("pages", 1)
        for agent in task["agents"]:
            text = line(agent)
            if shown.get(agent["id"]) != text:
                shown[agent["id"]] = text
                print(f"{time.strftime('%H:%M:%S')}  {text}", file=out, flush=True)
        code = decide(task, verdicts)
        if code is not None:
            for v in verdicts:
                print(f"verdict {v['id']}: {v['agent']['name']} {v['status']} ({v['recommendation']})", file=out)
            print(f"task {task_id}: {NAMES[code]}", file=out, flush=True)
            return code
        if time.monotonic() >= deadline:
            print(f"task {task_id}: timed out after {timeout:g} s", file=out, flush=True)
            return TIMED_OUT
        time.sleep(interval)
