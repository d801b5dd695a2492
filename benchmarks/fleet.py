"""The fleet benchmark (issue 9): N agents whose model answers after a latency, run as a user runs Swarm, watched.

    python manage.py swarm_bench --agents 128 --latency 10 --mode embedded|distributed [--model server|sim]
    make bench            # a small case; SWARM_BENCH_FLEET="embedded:128:10,distributed:512:10" picks others

It starts the app as `make run` does (embedded: one daphne; distributed: daphne and a worker started as `make worker`
starts one, on PostgreSQL and Redis database 13), creates a profile and a task of N `steady` agents through the API,
launches it, and watches with W viewers, each on the task's overview and on one agent's page. The model is either the
outside server (benchmarks/fleet_server.py, reached through the profile's `api_base` by the real litellm path) or
the simulator (`sim/steady` with SWARM_SIM_LATENCY). After a warm-up it measures a window, then waits a grace period
(for the calls that follow the window's answers), stops the agents and lets the watchers catch up.

In the same run it measures the bare plumbing (benchmarks/fleet_bare.py) and prints Swarm's figures as ratios.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks import fleet_bare, fleet_watch
from benchmarks.fleet_report import HEADER, details, ratios, row
from tests.live_server import BIN, ROOT, LiveApp, flush_redis_db, free_port, fresh_postgres_database

REDIS_DB, BARE_REDIS_DB = 13, 14


@dataclass
class Case:
    agents: int
    latency: float
    mode: str = "embedded"  # or "distributed"
    model: str = "server"  # the outside server, or "sim"
    window: float = 30.0
    watchers: int = 4
    step_delay: float = 0.8  # SWARM_STEP_DELAY, as `make run` has it
    concurrency: int = 4  # distributed: the worker's --concurrency (`make worker`'s CONCURRENCY)
    warmup: float | None = None  # default: one cycle (latency + step delay) and 2 s
    grace: float | None = None  # default: one cycle and 3 s
    bare_calls: int = 200


def _server(latency: float, stack: ExitStack) -> tuple[int, int]:
    proc = subprocess.Popen(
        [str(BIN / "python"), "-m", "benchmarks.fleet_server", str(latency)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    stack.callback(fleet_bare._stop, proc)
    line = proc.stdout.readline()
    if not line.startswith("port "):
        raise RuntimeError(f"the model server did not start: {line!r}")
    return proc.pid, int(line.split()[1])


def _start(live: LiveApp, concurrency: int) -> dict[str, int]:
    """As `make run` (and `make worker`) start Swarm; returns the pids of its processes."""
    live.data_dir.mkdir(parents=True, exist_ok=True)
    live.manage("migrate", "--noinput")
    live.seed_output = live.manage("seed_demo")
    pids = {}
    if live.mode == "distributed":  # the Makefile's worker target
        argv = [str(BIN / "celery"), "-A", "swarm_web", "worker", "--loglevel=INFO", f"--concurrency={concurrency}"]
        pids["worker"] = live._spawn("celery", [*argv, "--hostname", f"fleet-{live.data_dir.name}@%h"]).pid
    live.port = free_port()
    argv = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(live.port), "swarm_web.asgi:application"]
    pids["web"] = live._spawn("daphne", argv).pid
    live._wait_http(f"{live.base_url}/accounts/login/")
    if live.mode == "distributed":
        live.wait_for_log("celery", "ready.", timeout=90)
    return pids


def _api(live: LiveApp, token: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{live.base_url}/api/{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} /api/{path}: {exc.code} {exc.read().decode(errors='replace')[:2000]}") from None


def _task(live: LiveApp, token: str, case: Case, server_port: int) -> int:
    if case.model == "sim":
        profile = {"name": "bench-steady", "model": "sim/steady"}
    else:
        profile = {"name": "bench-server", "model": "openai/bench", "api_base": f"http://127.0.0.1:{server_port}/v1"}
    _api(live, token, "POST", "models", profile)
    task = {
        "repo": "mathutil",
        "title": f"Fleet of {case.agents}",
        "goal": "Write one short note a turn, for as long as you are let.",
        "acceptance": ["The notes are there."],
        "agents": [{"name": f"A{i:04d}", "model": profile["name"]} for i in range(case.agents)],
        "budget": {"minutes": 10**6, "tokens": 2 * 10**9, "usd": 10**5},
    }
    return _api(live, token, "POST", "tasks", task)["id"]


def _stop_all(live: LiveApp, cookie: str, task_id: int) -> None:
    """The task page's "Stop all", pressed by the admin: the app's own process writes the stop (in the embedded mode
    no other process could reach the watchers)."""
    page = urllib.request.Request(f"{live.base_url}/tasks/{task_id}/", headers={"Cookie": cookie})
    with urllib.request.urlopen(page, timeout=600) as response:
        set_cookies = response.headers.get_all("Set-Cookie") or []
    token = next(c.split(";")[0].split("=", 1)[1] for c in set_cookies if c.startswith("csrftoken="))
    headers = {"Cookie": f"{cookie}; csrftoken={token}", "X-CSRFToken": token, "Origin": live.base_url}
    stop = urllib.request.Request(f"{live.base_url}/tasks/{task_id}/stop-all/", data=b"", headers=headers)
    urllib.request.urlopen(stop, timeout=600).close()


def _tool(live: LiveApp, *args: str) -> dict:
    return json.loads(live.python("-m", "benchmarks.fleet_app", *args, timeout=600).strip().splitlines()[-1])


async def _watch_run(live: LiveApp, case: Case, info: dict, task_id: int, sampler, out: dict) -> dict:
    """Launch, watch, measure; returns the collected log and the watchers."""
    done = asyncio.Event()
    overview = [fleet_watch.OverviewWatcher(live.port, f"/ws/tasks/{task_id}/", cookie) for cookie in info["cookies"]]
    for watcher in overview:
        watcher.task = asyncio.ensure_future(watcher.run(done))
    while any(w.connects == 0 for w in overview):
        await asyncio.sleep(0.05)
    launched = time.time()
    agents = (await asyncio.to_thread(_api, live, info["token"], "POST", f"tasks/{task_id}/launch"))["agents"]
    out["launch_s"] = time.time() - launched
    ids = sorted(a["id"] for a in agents)
    details = [
        fleet_watch.AgentWatcher(live.port, f"/ws/agents/{ids[i * len(ids) // len(info['cookies'])]}/", cookie)
        for i, cookie in enumerate(info["cookies"])
    ]
    for watcher in details:
        watcher.agent = int(watcher.path.split("/")[3])
        watcher.task = asyncio.ensure_future(watcher.run(done))
    warmup = case.warmup if case.warmup is not None else case.latency + case.step_delay + 2
    grace = case.grace if case.grace is not None else case.latency + case.step_delay + 3
    # the warm-up counts from the first answer a watcher sees (less one latency: the first call), not from the launch:
    # an idle app loads its step (litellm) at the first launch, and its fleet is measured once it runs
    deadline = time.time() + 300
    while not any(w.shown for w in overview) and time.time() < deadline:
        await asyncio.sleep(0.1)
    first_call = max(launched + out["launch_s"], time.time() - case.latency)
    # and from the last worktree made: agents still preparing are not running yet, and a fleet of hundreds takes a
    # minute or more to prepare on a loaded machine (the window measured the launch instead of the fleet)
    while time.time() < deadline + 600:
        task = await asyncio.to_thread(_api, live, info["token"], "GET", f"tasks/{task_id}")
        if not task["agents_by_status"].get("preparing"):
            break
        await asyncio.sleep(2)
    out["prepared_s"] = time.time() - launched
    await asyncio.sleep(max(0.0, max(first_call, time.time() - case.latency) + warmup - time.time()))
    cpu_start, own_start, start = sampler.cpu(), time.process_time(), time.time()
    await asyncio.sleep(case.window)
    cpu_end, own_end, end = sampler.cpu(), time.process_time(), time.time()
    out["cpu"] = {name: cpu_end[name] - cpu_start[name] for name in cpu_start}
    out["cpu"]["benchmark"] = own_end - own_start
    await asyncio.sleep(grace)
    stopped = time.time()
    await asyncio.to_thread(_stop_all, live, info["admin_cookie"], task_id)
    log_path = live.data_dir / "fleet-events.json"
    await asyncio.to_thread(_tool, live, "collect", str(task_id), str(log_path))
    last = {}
    for agent, seq, *_ in json.loads(log_path.read_text())["events"]:
        last[agent] = max(last.get(agent, 0), seq)
    await fleet_watch.caught_up(details, last, timeout=30)
    done.set()
    await asyncio.gather(*(w.task for w in overview + details), return_exceptions=True)
    log = json.loads(log_path.read_text())
    return {"log": log, "overview": overview, "details": details, "times": (launched, start, end, stopped)}


def run(case: Case, say=print) -> dict:
    """One run of the case; prints progress with `say`, returns the figures."""
    out: dict = {"case": asdict(case)}
    data_dir = Path(tempfile.mkdtemp(prefix="swarm-fleet-"))
    with ExitStack() as stack:
        server_pid, server_port = _server(case.latency, stack)
        say(f"fleet: bare plumbing (litellm against the same server, daphne{', celery' * (case.mode != 'embedded')})")
        bare = fleet_bare.bare_litellm(f"http://127.0.0.1:{server_port}/bare/v1", case.bare_calls)
        daphne = fleet_bare.bare_daphne_memory(free_port())
        bare["daphne_mb"], bare["daphne_pss_mb"] = daphne["rss"], daphne["pss"]
        env = {"SWARM_MODEL_HOSTS": f"127.0.0.1:{server_port}", "SWARM_SIM_LATENCY": str(case.latency)}
        if case.mode == "distributed":
            bare_redis = flush_redis_db(BARE_REDIS_DB)
            stack.callback(flush_redis_db, BARE_REDIS_DB)
            celery = fleet_bare.bare_celery_memory(bare_redis, case.concurrency, data_dir / "bare-celery.log")
            bare["celery_mb"], bare["celery_pss_mb"] = celery["rss"], celery["pss"]
            env["REDIS_URL"] = flush_redis_db(REDIS_DB)
            stack.callback(flush_redis_db, REDIS_DB)
            env["DATABASE_URL"] = stack.enter_context(fresh_postgres_database("swarm_bench"))
        out["bare"] = bare
        live = LiveApp(case.mode, data_dir / "app", extra_env=env, step_delay=case.step_delay)
        stack.callback(live.stop)
        say(f"fleet: starting Swarm ({case.mode}), {case.agents} agents, {case.model} model at {case.latency:g} s")
        pids = _start(live, case.concurrency)
        time.sleep(fleet_bare.IDLE_SETTLE)
        idle = {name: fleet_bare.tree_memory(pid) for name, pid in pids.items()}
        out["idle_mb"] = {name: memory["rss"] for name, memory in idle.items()}
        out["idle_pss_mb"] = {name: memory["pss"] for name, memory in idle.items()}
        info = _tool(live, "prepare", str(case.watchers))
        task_id = _task(live, info["token"], case, server_port)
        sampler = fleet_bare.Sampler({**pids, "model server": server_pid})
        stack.callback(sampler.stop)
        say(f"fleet: launching; window {case.window:g} s after the warm-up")
        try:
            seen = asyncio.run(_watch_run(live, case, info, task_id, sampler, out))
        except BaseException:
            live.save_logs(ROOT / "test-artifacts" / "fleet")
            raise
        sampler.stop()
        out["peak_mb"] = sampler.peak
        out["load_average"] = os.getloadavg()[0]  # other work on the machine makes the figures noisier
        server_log = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{server_port}/log", timeout=30).read())
    out.update(figures(case, seen, server_log))
    out["raw"] = str(_keep_raw(case, seen, server_log))
    shutil.rmtree(data_dir, ignore_errors=True)
    return out


def _keep_raw(case: Case, seen: dict, server_log: list) -> Path:
    """What the figures were made from, to look into a run afterwards (test-artifacts/ is not committed)."""
    path = ROOT / "test-artifacts" / "fleet" / f"{case.mode}-{case.model}-{case.agents}-{int(time.time())}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = {
        "times": seen["times"],
        "log": seen["log"],
        "server_log": server_log,
        "overview": [w.shown for w in seen["overview"]],
        "details": {w.agent: w.received for w in seen["details"]},
    }
    path.write_text(json.dumps(raw))
    return path


def figures(case: Case, seen: dict, server_log: list) -> dict:
    log, (launched, start, end, stopped) = seen["log"], seen["times"]
    names = {int(agent): name for agent, name in log["agents"].items()}
    events = log["events"]
    if case.model == "sim":
        calls = fleet_watch.Calls.from_events(events, names, case.latency)
    else:
        calls = fleet_watch.Calls.from_server(server_log, names)
    rate = calls.rate(start, end)
    waits = calls.waits(start, end, case.step_delay, stopped)
    stale = fleet_watch.staleness(events, seen["overview"], start, end, stopped)
    delivered = fleet_watch.delivery(events, seen["details"], start, end)
    first, last_first, never = calls.first_calls(launched)
    p = fleet_watch.percentile
    return {
        "calls": calls.started(start, end),
        "calls_per_s": rate,
        "ideal_per_s": case.agents / (case.latency + case.step_delay),
        "first_call_s": first,
        "last_first_call_s": last_first,
        "never_called": never,
        "wait_p50": p(waits, 50),
        "wait_p99": p(waits, 99),
        "stale_p50": p(stale, 50),
        "stale_p99": p(stale, 99),
        "detail_p50": p(delivered["latencies"], 50),
        "detail_p99": p(delivered["latencies"], 99),
        "detail_events": len(delivered["latencies"]),
        "lost": delivered["lost"],
        "duplicated": delivered["duplicated"],
        "overview_frames": sum(w.frames for w in seen["overview"]),
        "reconnects": sum(max(0, w.connects - 1) for w in seen["overview"] + seen["details"]),
    }


def cases_from_env() -> list[Case]:
    """`make bench`'s fleet cases: SWARM_BENCH_FLEET is a comma-separated list of mode:agents:latency[:model]."""
    window = float(os.environ.get("SWARM_BENCH_FLEET_WINDOW") or 30)
    watchers = int(os.environ.get("SWARM_BENCH_FLEET_WATCHERS") or 4)
    cases = []
    for spec in (os.environ.get("SWARM_BENCH_FLEET") or "embedded:32:2").split(","):
        mode, agents, latency, *model = spec.strip().split(":")
        model = model[0] if model else os.environ.get("SWARM_BENCH_FLEET_MODEL") or "server"
        cases.append(Case(int(agents), float(latency), mode, model, window=window, watchers=watchers))
    return cases


def bench() -> None:
    """The fleet section of `make bench`: one row per case, under one header."""
    print("\n== fleet: agents whose model answers after a latency, watched (benchmarks/fleet.py)")
    results = []
    for case in cases_from_env():
        out = run(case, say=lambda line: print(line, flush=True))
        out["ratios"] = ratios(out)
        results.append(out)
        for line in details(out):
            print(line)
    print(HEADER)
    for out in results:
        print(row(out))
