"""Launch benchmark: how long launching a big simulated fleet holds the request, and how soon the fleet works.

The app runs as a person runs it (`tests.live_server.LiveApp`: daphne, the embedded scheduler, SQLite), with the
demo's repository and its `sim-diligent` profile. For each fleet size it writes a task through the API, times
`POST /api/tasks/<id>/launch`, then watches the database for the first `model_turn` event of any of its agents and
for the moment every agent has its worktree (or has failed to get one).

python -m benchmarks launch              # 300 and 1,000 agents
SWARM_BENCH_LAUNCH=50,300 python -m benchmarks launch
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from tests.live_server import LiveApp

SIZES = (300, 1000)
DEADLINE = 600.0  # seconds a fleet gets to have every worktree


def _api(live: LiveApp, token: str, path: str, data: dict | None = None, timeout: float = 300) -> tuple[float, dict]:
    """One JSON request; returns (seconds it took, answer)."""
    request = urllib.request.Request(
        f"{live.base_url}/api/{path}",
        data=json.dumps(data or {}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = json.loads(response.read())
    return time.monotonic() - started, body


def _task(live: LiveApp, token: str, size: int) -> int:
    roster = [{"name": f"agent{i:04d}", "model": "sim-diligent"} for i in range(size)]
    _, task = _api(
        live,
        token,
        "tasks",
        {
            "repo": "mathutil",
            "title": f"launch benchmark, {size} agents",
            "goal": "mean([2, 4, 6]) should be 4.",
            "acceptance": ["The whole test suite passes"],
            "verify_command": "python -m pytest -q",
            "agents": roster,
            "budget": {"minutes": 20, "tokens": 100_000, "usd": 1.5},
        },
    )
    return task["id"]


def _when(text: str | None) -> float | None:
    """A timestamp as SQLite stores Django's aware datetimes (UTC), as seconds since the epoch."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _watch(database: Path, task_id: int, size: int, launched: float) -> dict:
    """Poll the app's database until every agent of the task has a worktree (or failed to get one)."""
    figures: dict = {"first_turn": None, "all_ready": None, "ready": 0, "failed": 0}
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            ready, failed, last_start = connection.execute(
                "SELECT SUM(worktree != ''), SUM(worktree = '' AND status = 'error'), MAX(started_at)"
                " FROM agents_agent WHERE task_id = ?",
                (task_id,),
            ).fetchone()
            figures["ready"], figures["failed"] = ready or 0, failed or 0
            if figures["first_turn"] is None:
                (first,) = connection.execute(
                    "SELECT MIN(e.created_at) FROM agents_event e JOIN agents_agent a ON a.id = e.agent_id"
                    " WHERE a.task_id = ? AND e.kind = 'model_turn'",
                    (task_id,),
                ).fetchone()
                if first:
                    figures["first_turn"] = _when(first) - launched
            if figures["ready"] + figures["failed"] >= size and figures["all_ready"] is None:
                figures["all_ready"] = (_when(last_start) or time.time()) - launched
            if figures["all_ready"] is not None and figures["first_turn"] is not None:
                break
            time.sleep(0.1)
    finally:
        connection.close()
    return figures


def _fleet(size: int) -> dict:
    live = LiveApp("embedded", Path(tempfile.mkdtemp(prefix="swarm-bench-launch-")), step_delay=0.8)
    try:
        live.start()
        token = live.manage("api_token", "admin").strip()
        task_id = _task(live, token, size)
        launched = time.time()
        seconds, answer = _api(live, token, f"tasks/{task_id}/launch")
        figures = _watch(live.data_dir / "swarm.sqlite3", task_id, size, launched)
        statuses: dict[str, int] = {}
        for agent in answer["agents"]:
            statuses[agent["status"]] = statuses.get(agent["status"], 0) + 1
        return {"request": seconds, "answered": statuses, **figures}
    finally:
        live.stop()
        shutil.rmtree(live.data_dir, ignore_errors=True)  # a thousand worktrees


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def run() -> None:
    sizes = [int(s) for s in os.environ.get("SWARM_BENCH_LAUNCH", "").split(",") if s.strip()] or list(SIZES)
    print("launch benchmark: embedded app (daphne, SQLite), sim-diligent agents, launched through the API")
    header = (
        f"{'agents':>7} {'request s':>10} {'first model_turn s':>19} {'all worktrees s':>16} "
        f"{'ready':>6} {'failed':>7}  agents as answered"
    )
    print(header)
    print("-" * len(header))
    for size in sizes:
        f = _fleet(size)
        answered = ", ".join(f"{n} {status}" for status, n in sorted(f["answered"].items()))
        print(
            f"{size:>7} {f['request']:>10.2f} {_seconds(f['first_turn']):>19} {_seconds(f['all_ready']):>16} "
            f"{f['ready']:>6} {f['failed']:>7}  {answered}"
        )
