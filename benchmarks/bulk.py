"""Bulk message benchmark (issue 10): how long "message the selected agents" on the task page holds the request.

The app runs as a person runs it (`tests.live_server.LiveApp`: daphne, the embedded scheduler, SQLite) with a fleet of
300 agents written straight to its database (tests/factories.make_fleet, as tests/test_browser_fleet.py does: no step
of theirs runs, so the request is all there is). Each round is the htmx POST the page sends for 50 ticked running
agents not messaged before; it prints each answer's time, their median and the slowest.

python -m benchmarks bulk
SWARM_BENCH_BULK=50,150 python -m benchmarks bulk    # agents per message (at most the fleet's 150 running ones)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tests.live_server import LiveApp

FLEET = 300
SEED = """
import django, json
django.setup()
from django.contrib.auth import get_user_model
from agents.models import Agent, TaskSpec
from benchmarks.live_tools import session_cookie
from tests.factories import make_fleet
task = make_fleet(TaskSpec.objects.get(title="Fix mean() in mathutil"), {n}, title="bulk benchmark")
running = list(task.agents.filter(status=Agent.Status.RUNNING).order_by("pk").values_list("pk", flat=True))
print(json.dumps({{"task": task.pk, "running": running, "cookie": session_cookie(get_user_model().objects.get(username="admin"))}}))
"""


def _post(live: LiveApp, cookie: str, task_id: int, ids: list[int], text: str) -> tuple[float, str]:
    """One bulk message as the page sends it; (seconds until the answer, the outcome it shows)."""
    page = urllib.request.Request(f"{live.base_url}/tasks/{task_id}/", headers={"Cookie": cookie})
    with urllib.request.urlopen(page, timeout=120) as response:
        set_cookies = response.headers.get_all("Set-Cookie") or []
    token = next(c.split(";")[0].split("=", 1)[1] for c in set_cookies if c.startswith("csrftoken="))
    body = urllib.parse.urlencode({"action": "message", "text": text, "ids": ids}, doseq=True).encode()
    headers = {
        "Cookie": f"{cookie}; csrftoken={token}",
        "X-CSRFToken": token,
        "Origin": live.base_url,
        "HX-Request": "true",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    request = urllib.request.Request(f"{live.base_url}/tasks/{task_id}/act/", data=body, headers=headers)
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=120) as response:
        html = response.read().decode()
    elapsed = time.monotonic() - started
    found = re.search(r'id="bulk-outcome"[^>]*>([^<]*)<', html)
    return elapsed, found.group(1).strip() if found else "(no outcome shown)"


def run() -> None:
    sizes = [int(n) for n in (os.environ.get("SWARM_BENCH_BULK") or "50").split(",")]
    print("\n== bulk: messaging many agents from the task page (benchmarks/bulk.py)")
    data_dir = Path(tempfile.mkdtemp(prefix="swarm-bulk-"))
    live = LiveApp("embedded", data_dir / "app")
    try:
        live.start()
        seeded = json.loads(live.python("-c", SEED.format(n=FLEET)).strip().splitlines()[-1])
        for size in sizes:
            running = seeded["running"]
            rounds = max(1, min(5, len(running) // size))
            times = []
            for i in range(rounds):
                ids = running[(i * size) % len(running) :][:size]
                elapsed, outcome = _post(live, seeded["cookie"], seeded["task"], ids, f"Round {i}: wrap up, please.")
                times.append(elapsed)
                print(f"  {size} agents of {FLEET}, round {i + 1}: answered in {elapsed:.3f} s ({outcome})")
                time.sleep(1.0)  # the broadcasts that follow the answer go out before the next round
            print(
                f"bulk message to {size} agents of {FLEET}: median {statistics.median(times):.3f} s,"
                f" slowest {max(times):.3f} s over {rounds} rounds; load average {os.getloadavg()[0]:.1f}"
            )
    finally:
        live.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
