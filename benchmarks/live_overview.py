"""The task overview under a busy fleet, against a real daphne on Redis: how many frames a watcher of the task gets,
how stale its cards are, whether a watcher of one agent still gets every event exactly once, and the CPU it costs.

An emitter process (as a Celery worker would: the app's settings, its own process) commits `steps` transactions for
each of `agents` agents of one task, two events each (a model turn and a tool call), as fast as `rate` transactions a
second allows. Each transaction sets the agent's activity to "step K", so a card shows which step it is at. Watchers:
one socket on the task overview, one on the first agent's page.

    python -m benchmarks.live_overview [--agents 20] [--steps 40] [--rate 200]

Prints one JSON object: frames the overview watcher got (and per second of the run), overview staleness p50/p99
(a transaction's commit to the first overview frame that shows it or a later step of the same agent), cards stale
after the last frame, the agent watcher's events lost / duplicated / out of order, and the CPU seconds of daphne and
of the emitter. Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/9); DATABASE_URL is used when set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.live_tools import BIN, start_app, tool  # noqa: E402
from tests.live_server import LiveApp  # noqa: E402
from tests.ws_client import Closed, WsClient  # noqa: E402

CARD = re.compile(r'id="agent-(\d+)-card".*?step (\d+)\b', re.S)


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _overview(port: int, path: str, cookie: str, frames: list, done: asyncio.Event) -> None:
    ws = await WsClient.connect(port, path, cookie)
    await ws.recv_json()  # the cards as they are now
    try:
        while not done.is_set():
            try:
                message = await ws.recv_json(timeout=0.5)
            except TimeoutError:
                continue
            frames.append((time.time(), message["html"]))
    except Closed:
        pass
    finally:
        await ws.close()


async def _agent(port: int, path: str, cookie: str, seen: list[int], done: asyncio.Event) -> None:
    ws = await WsClient.connect(port, f"{path}?after=0", cookie)
    try:
        while not done.is_set():
            try:
                message = await ws.recv_json(timeout=0.5)
            except TimeoutError:
                continue
            if message["seq"] is not None:
                seen.append(message["seq"])
    except Closed:
        pass
    finally:
        await ws.close()


async def measure(live: LiveApp, agents: int, steps: int, rate: float) -> dict:
    info = tool(live, "prepare", "watcher")
    fleet = json.loads(
        live.python("-m", "benchmarks.live_overview", "-", "fleet", str(agents)).strip().splitlines()[-1]
    )
    cookie = info["users"]["watcher"]["cookie"]
    frames: list[tuple[float, str]] = []
    seen: list[int] = []
    done = asyncio.Event()
    watchers = [
        asyncio.ensure_future(_overview(live.port, f"/ws/tasks/{fleet['task']}/", cookie, frames, done)),
        asyncio.ensure_future(_agent(live.port, f"/ws/agents/{fleet['agents'][0]}/", cookie, seen, done)),
    ]
    await asyncio.sleep(1.0)  # both sockets open and replayed
    daphne = next(proc for name, proc, _ in live.procs if name.startswith("daphne"))
    cpu_before = _cpu_seconds(daphne.pid)
    times_path = live.data_dir / "commit-times.json"
    emitter = await asyncio.create_subprocess_exec(
        str(BIN / "python"),
        *("-m", "benchmarks.live_overview", "-", "emit", str(steps), str(rate), str(times_path)),
        *map(str, fleet["agents"]),
        cwd=ROOT,
        env=live.env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await emitter.communicate()
    emitted = json.loads(out.decode().strip().splitlines()[-1])
    await asyncio.sleep(3.0)  # the last frames and events arrive
    cpu_daphne = _cpu_seconds(daphne.pid) - cpu_before
    done.set()
    await asyncio.gather(*watchers)

    committed = {int(k): v for k, v in json.loads(times_path.read_text()).items()}
    shown: dict[int, int] = {}
    staleness: list[float] = []
    waiting = {a: 1 for a in committed}  # the first step of each agent not yet shown
    for arrived, html in frames:
        for agent, step in CARD.findall(html):
            agent, step = int(agent), int(step)
            shown[agent] = max(shown.get(agent, 0), step)
            while waiting[agent] <= shown[agent]:
                staleness.append(arrived - committed[agent][waiting[agent] - 1])
                waiting[agent] += 1
    events_total = 1 + 2 * steps  # "started" + two a transaction
    return {
        "agents": agents,
        "transactions": emitted["transactions"],
        "emit_seconds": emitted["seconds"],
        "overview_frames": len(frames),
        "overview_frames_per_second": round(len(frames) / emitted["seconds"], 1),
        "overview_bytes": sum(len(h) for _, h in frames),
        "staleness_p50_ms": round(_percentile(staleness, 50) * 1000, 1),
        "staleness_p99_ms": round(_percentile(staleness, 99) * 1000, 1),
        "changes_never_shown": sum(steps - shown.get(a, 0) for a in committed),
        "cards_stale_after_last_frame": sum(1 for a in committed if shown.get(a, 0) != steps),
        "agent_events_lost": len(set(range(1, events_total + 1)) - set(seen)),
        "agent_events_duplicated": len(seen) - len(set(seen)),
        "agent_events_out_of_order": sum(1 for a, b in zip(seen, seen[1:], strict=False) if b < a),
        "cpu_daphne_s": round(cpu_daphne, 2),
        "cpu_emitter_s": emitted["cpu"],
        "cpu_emitter_ms_per_transaction": round(1000 * emitted["cpu"] / emitted["transactions"], 2),
    }


# ---------------------------------------------------------------- inside the app's environment


def fleet(count: int) -> dict:
    """A task of `count` paused agents (no step is ever scheduled), each with its "started" event (seq 1)."""
    from agents import demo, services
    from agents.models import Agent, ModelProfile
    from benchmarks.live_tools import DEMO_TEAM

    team, template = demo.seed(DEMO_TEAM)
    names = [f"A{i:03d}" for i in range(count)]
    task = demo.task_like(template, [(n, "sim-diligent") for n in names], title=f"fleet {time.time_ns()}")
    profile = ModelProfile.objects.get(team=team, name="sim-diligent")
    agents = [Agent.objects.create(task=task, name=n, profile=profile, status=Agent.Status.PAUSED) for n in names]
    for agent in agents:
        services.record_event(agent.pk, "status", {"status": "paused", "reason": "started"}, activity="step 0")
    return {"task": task.pk, "agents": [a.pk for a in agents]}


def emit(steps: int, rate: float, times_path: str, agent_ids: list[int]) -> dict:
    """`steps` transactions per agent, round-robin, at most `rate` a second; writes each commit's time."""
    from agents import live_send, services

    committed: dict[int, list[float]] = {a: [] for a in agent_ids}
    started, cpu, written = time.monotonic(), time.process_time(), 0
    for step in range(1, steps + 1):
        for agent_id in agent_ids:
            at = time.time()
            services.append_events(
                agent_id,
                [
                    ("model_turn", {"text": f"step {step}"}),
                    ("tool_call", {"tool": "read_file", "args": {"path": "README.md"}, "result": "…", "ok": True}),
                ],
                activity=f"step {step}",
            )
            committed[agent_id].append(at)
            written += 1
            ahead = started + written / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    seconds = time.monotonic() - started
    Path(times_path).write_text(json.dumps(committed))
    live_send.wait_sent()
    return {"transactions": written, "seconds": round(seconds, 2), "cpu": round(time.process_time() - cpu, 2)}


def inner(argv: list[str]) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swarm_web.settings")
    django.setup()
    command, *rest = argv
    if command == "fleet":
        result = fleet(int(rest[0]))
    else:
        result = emit(int(rest[0]), float(rest[1]), rest[2], [int(a) for a in rest[3:]])
    print(json.dumps(result), flush=True)
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "-":
        return inner(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks.live_overview")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rate", type=float, default=200.0, help="transactions a second, over all agents")
    args = parser.parse_args(argv)
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")
    live = start_app(Path(tempfile.mkdtemp(prefix="swarm-overview-")), redis_url, os.environ.get("DATABASE_URL", ""))
    try:
        result = asyncio.run(measure(live, args.agents, args.steps, args.rate))
    finally:
        live.stop()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
