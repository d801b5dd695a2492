"""RELIABILITY 15 at full size, against two daphne processes sharing the soak's Redis and PostgreSQL.

One account ("noisy") opens 200 websockets, spread over both processes, and sends 1,000 writes a minute for a minute,
while another account ("calm") works as usual: it reads an agent, sends it a message, and keeps 5 sockets open. The
calm account's latency is measured alone first (the baseline), then under the load; both p95s are printed.

Pass: the noisy account holds exactly SWARM_WS_PER_USER sockets over both processes (every other one is closed with
4429); its writes past SWARM_POST_RATE in a clock minute get 429 with a retry delay, none a 5xx; the calm account is
never refused, and its p95 under the load stays below twice the baseline (plus 50 ms for a shared machine's noise).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from benchmarks.live_receipts import http
from benchmarks.live_tools import spawn_daphne, start_app, tool
from tests.ws_client import Closed, Refused, WsClient

SOCKETS = 200
WRITES_PER_MINUTE = 1000
BASELINE_SECONDS = 15
LOAD_SECONDS = 60
SLACK = 0.05  # seconds


@dataclass
class CapsRun:
    cap: int = 0
    rate: int = 0
    held: int = 0
    refused_4429: int = 0
    other_closes: list[int] = field(default_factory=list)
    writes: dict[int, int] = field(default_factory=dict)  # the noisy account's answers by status
    retry_after_missing: int = 0
    calm_refused: list[str] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    loaded: list[float] = field(default_factory=list)

    def p95(self, values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[int(0.95 * (len(ordered) - 1))] if ordered else 0.0

    def problems(self) -> list[str]:
        found = []
        if self.held != self.cap or self.refused_4429 != SOCKETS - self.cap or self.other_closes:
            found.append(
                f"sockets: held {self.held} of cap {self.cap}, {self.refused_4429} closed with 4429,"
                f" other closes {self.other_closes[:10]}"
            )
        accepted = self.writes.get(201, 0)
        minutes = LOAD_SECONDS // 60 + 1  # the load spans this many clock minutes at most
        if not self.writes.get(429) or accepted > self.rate * minutes or self.retry_after_missing:
            found.append(f"writes: {self.writes}, {self.retry_after_missing} refusals without a retry delay")
        if any(status >= 500 or status == 0 for status in self.writes):
            found.append(f"writes answered with errors: {self.writes}")
        if self.calm_refused:
            found.append(f"the calm account was refused: {self.calm_refused[:5]}")
        if self.p95(self.loaded) > 2 * self.p95(self.baseline) + SLACK:
            found.append(f"calm p95 {self.p95(self.loaded):.3f} s under load, baseline {self.p95(self.baseline):.3f} s")
        return found


# each account its own client threads: the calm account's requests never wait behind the noisy one's in this process
CALM_THREADS = ThreadPoolExecutor(2, thread_name_prefix="calm")
NOISY_THREADS = ThreadPoolExecutor(24, thread_name_prefix="noisy")


async def _calm(run: CapsRun, port: int, info: dict, seconds: float, into: list[float]) -> None:
    """What a person's page and scripts do: read the agent, send it a message, about one a second."""
    token, agent = info["users"]["calm"]["token"], info["agent"]
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        for path, body in ((f"/api/agents/{agent}", None), (f"/api/agents/{agent}/messages", {"text": f"calm {n}"})):
            started = time.monotonic()
            call = partial(http, port, path, token=token, body=body)
            status, _ = await asyncio.get_running_loop().run_in_executor(CALM_THREADS, call)
            into.append(time.monotonic() - started)
            if status not in {200, 201}:
                run.calm_refused.append(f"{path} {status}")
        n += 1
        await asyncio.sleep(0.8)


async def _open(port: int, agent: int, cookie: str) -> tuple[WsClient | None, int | None]:
    """A socket that stays open (with its close code None), or the code it was closed with."""
    try:
        ws = await WsClient.connect(port, f"/ws/agents/{agent}/", cookie, timeout=30)
    except (Refused, OSError, TimeoutError):
        return None, -1
    try:
        while json.loads(await ws.recv(timeout=30))["seq"] is not None:
            pass
    except Closed as exc:
        return None, exc.code
    except TimeoutError:
        await ws.close()
        return None, -2
    return ws, None


async def _noisy_writes(run: CapsRun, ports: list[int], info: dict) -> None:
    token, agent = info["users"]["noisy"]["token"], info["agent"]
    interval = 60 / WRITES_PER_MINUTE
    start = time.monotonic()

    async def one(n: int) -> None:
        call = partial(http, ports[n % 2], f"/api/agents/{agent}/messages", token=token, body={"text": f"noise {n}"})
        status, body = await asyncio.get_running_loop().run_in_executor(NOISY_THREADS, call)
        run.writes[status] = run.writes.get(status, 0) + 1
        if status == 429 and not json.loads(body).get("retry_after"):
            run.retry_after_missing += 1

    sent, pending = 0, []
    while time.monotonic() - start < LOAD_SECONDS:
        pending.append(asyncio.ensure_future(one(sent)))
        sent += 1
        await asyncio.sleep(max(0.0, start + sent * interval - time.monotonic()))
    await asyncio.gather(*pending)


async def run_caps(ports: list[int], info: dict, cap: int, rate: int) -> CapsRun:
    run = CapsRun(cap=cap, rate=rate)
    await _calm(run, ports[0], info, BASELINE_SECONDS, run.baseline)
    agent, noisy, calm = info["agent"], info["users"]["noisy"]["cookie"], info["users"]["calm"]["cookie"]
    opened = []
    for batch in range(0, SOCKETS, 20):
        results = await asyncio.gather(*(_open(ports[i % 2], agent, noisy) for i in range(batch, batch + 20)))
        for ws, code in results:
            if ws is not None:
                opened.append(ws)
            elif code == 4429:
                run.refused_4429 += 1
            else:
                run.other_closes.append(code)
    run.held = len(opened)
    calm_sockets = await asyncio.gather(*(_open(ports[i % 2], agent, calm) for i in range(5)))
    run.calm_refused += [f"socket closed with {code}" for ws, code in calm_sockets if ws is None]
    await asyncio.gather(_noisy_writes(run, ports, info), _calm(run, ports[0], info, LOAD_SECONDS, run.loaded))
    for ws in opened + [ws for ws, _ in calm_sockets if ws is not None]:
        await ws.close()
    return run


def phase(data_dir: Path, tally):
    """`make soak` phase "caps"."""
    cap, rate = 20, 300  # the defaults
    limits = {"SWARM_WS_PER_USER": str(cap), "SWARM_POST_RATE": str(rate)}
    live = start_app(data_dir / "caps", os.environ["REDIS_URL"], os.environ.get("DATABASE_URL", ""), **limits)
    try:
        ports = [live.port, spawn_daphne(live, "daphne-b")]
        info = tool(live, "prepare", "noisy", "calm")
        run = asyncio.run(run_caps(ports, info, cap, rate))
    finally:
        live.stop()
    tally.faults = SOCKETS + sum(run.writes.values())
    tally.inputs = sum(run.writes.values())
    tally.errors_500 = sum(n for status, n in run.writes.items() if status >= 500)
    tally.runs = len(run.baseline) + len(run.loaded) - len(run.calm_refused)
    problems = run.problems()
    tally.failures = len(problems)
    tally.notes += problems
    tally.notes.append(
        f"noisy: {run.held} sockets held, {run.refused_4429} closed with 4429; writes {run.writes};"
        f" calm p95 {run.p95(run.baseline) * 1000:.0f} ms alone, {run.p95(run.loaded) * 1000:.0f} ms under load"
    )
    return tally
