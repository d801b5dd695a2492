"""RELIABILITY 4 against a real daphne on Redis: one agent's events reach every watcher exactly once and in order,
through a slow reader, dropped connections, dropped broadcasts and a daphne crash.

Watchers (raw sockets, tests/ws_client.py; each reconnects with `?after=<last seq seen>` as static/js/live.js does):
- normal: reads everything as it comes;
- slow: stops reading for 5 s (its kernel buffers fill, TCP pushes back, daphne holds the rest);
- flaky: its TCP connection is reset (no close frame) `drops` times at random while events flow;
- leaver: removed from the team mid-run. The server closes its socket with 4403, a fatal code: live.js does not
  retry it, and a new socket is refused at the handshake anyway (checked).
Meanwhile daphne is SIGKILLed once and started again on the same port, and a burst of more than 100 events is written
without broadcast. That burst is what a full channel layer does to a slow consumer (channels_redis' core layer drops
past `capacity=100`); the pub/sub layer Swarm uses queues without a bound, so the drop is made by hand. The next live
event then shows a jump and the server fills it from the log.

Pass: every remaining watcher's list is exactly 1..N, in order, without duplicates; after each (re)connect its first
event is last_seen + 1; the leaver got 4403.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.live_tools import BIN, ROOT, restart_daphne, start_app, tool
from tests.live_server import LiveApp
from tests.ws_client import Closed, Refused, WsClient

FATAL = {4403, 4404}
PAUSE_SECONDS = 5.0
STAYING = ("normal", "slow", "flaky")


@dataclass
class Watcher:
    name: str
    cookie: str
    seen: list[int] = field(default_factory=list)
    last: int = 0
    connects: int = 0
    drops: int = 0
    bad_resumes: list[tuple[int, int]] = field(default_factory=list)  # (last seen, first event after reconnecting)
    fatal: int | None = None
    refused: int | None = None  # HTTP status of a handshake refused before accept
    ws: WsClient | None = None
    got_here: int = 0  # events received on the current socket
    target: int = 0

    def lost(self, total: int) -> int:
        return len(set(range(1, total + 1)) - set(self.seen))

    def duplicated(self) -> int:
        return len(self.seen) - len(set(self.seen))

    def out_of_order(self) -> int:
        return sum(1 for a, b in zip(self.seen, self.seen[1:], strict=False) if b < a) + len(self.bad_resumes)

    def exact(self, total: int) -> bool:
        return self.seen == list(range(1, total + 1)) and not self.bad_resumes


@dataclass
class ReplayRun:
    total: int
    watchers: dict[str, Watcher]
    emitter: dict = field(default_factory=dict)
    restarted_in: float | None = None
    restarted_at: int | None = None  # events emitted when daphne was killed (None: after the last one)
    drops_wanted: int = 0
    refused_after_leaving: int | None = None  # HTTP status of the leaver's next handshake

    def problems(self) -> list[str]:
        found = []
        for name in STAYING:
            w = self.watchers[name]
            if not w.exact(self.total):
                found.append(
                    f"{name}: {len(w.seen)} events, lost {w.lost(self.total)}, duplicated {w.duplicated()},"
                    f" out of order {w.out_of_order()}, resumes {w.bad_resumes[:5]}, fatal {w.fatal}"
                )
        if self.watchers["flaky"].drops < self.drops_wanted:
            found.append(f"flaky: only {self.watchers['flaky'].drops} of {self.drops_wanted} drops happened")
        leaver = self.watchers["leaver"]
        # closed with 4403 while watching; or, when the crash took the close with it, refused at its reconnect
        if (leaver.fatal != 4403 and leaver.refused != 403) or self.refused_after_leaving != 403:
            found.append(
                f"leaver: closed with {leaver.fatal}, refused {leaver.refused}, next handshake"
                f" {self.refused_after_leaving}"
            )
        if self.restarted_in is None:
            found.append("daphne was not restarted")
        return found


async def _watch(w: Watcher, port: int, path: str, total: int, deadline: float, pause_at: int | None = None) -> None:
    backoff, paused = 0.05, False
    while w.last < total and w.fatal is None and time.monotonic() < deadline:
        try:
            ws = await WsClient.connect(port, f"{path}?after={w.last}", w.cookie, timeout=5)
        except Refused as exc:
            if exc.status == 403:  # refused before accept (no longer a member): nothing to wait for
                w.refused = exc.status
                return
            await asyncio.sleep(backoff)
            continue
        except (OSError, TimeoutError):  # daphne is down (or starting): try again, backing off
            await asyncio.sleep(backoff)
            backoff = min(1.0, backoff * 2)
            continue
        w.connects, w.ws, w.got_here, resumed, backoff = w.connects + 1, ws, 0, w.last, 0.05
        try:
            while w.last < total:
                seq = json.loads(await ws.recv(timeout=60))["seq"]
                if seq is None:  # the header after the replay, not part of the log
                    continue
                if w.got_here == 0 and seq != resumed + 1:
                    w.bad_resumes.append((resumed, seq))
                w.got_here += 1
                w.seen.append(seq)
                w.last = max(w.last, seq)
                if pause_at is not None and not paused and w.last >= pause_at:
                    paused = True
                    await asyncio.sleep(PAUSE_SECONDS)  # reads nothing meanwhile
        except Closed as exc:
            if exc.code in FATAL:
                w.fatal = exc.code
        except TimeoutError:
            pass  # a silent connection: drop it and reconnect
        finally:
            w.ws = None
            if ws.close_code is None:
                await ws.close()


async def _drop(w: Watcher, drops: int, rng: random.Random, deadline: float) -> None:
    """Reset the watcher's TCP connection `drops` times, each a little after events started flowing on it."""
    while w.drops < drops and time.monotonic() < deadline and w.last < w.target:
        ws = w.ws
        if ws is None or w.got_here == 0:
            await asyncio.sleep(0.01)
            continue
        await asyncio.sleep(rng.uniform(0.02, 0.25))
        if w.ws is ws and ws.close_code is None:
            ws.abort()
            w.drops += 1


async def run_replay(live: LiveApp, info: dict, total: int, rate: float, drops: int, seed: int) -> ReplayRun:
    rng = random.Random(seed)
    path = f"/ws/agents/{info['agent']}/"
    watchers = {n: Watcher(n, info["users"][n]["cookie"]) for n in (*STAYING, "leaver")}
    run = ReplayRun(total, watchers, drops_wanted=drops)
    deadline = time.monotonic() + 120 + 3 * total / rate
    for w in watchers.values():
        w.target = total
    tasks = [
        asyncio.ensure_future(_watch(watchers["normal"], live.port, path, total, deadline)),
        asyncio.ensure_future(_watch(watchers["slow"], live.port, path, total, deadline, pause_at=total // 10)),
        asyncio.ensure_future(_watch(watchers["flaky"], live.port, path, total, deadline)),
        asyncio.ensure_future(_watch(watchers["leaver"], live.port, path, total, deadline)),
        asyncio.ensure_future(_drop(watchers["flaky"], drops, rng, deadline)),
    ]
    while any(w.connects == 0 for w in watchers.values()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    silent = (int(total * 0.3), min(150, total // 4))
    emitter = await asyncio.create_subprocess_exec(
        str(BIN / "python"),
        *("-m", "benchmarks.live_tools", "emit", str(info["agent"]), str(total), str(rate)),
        *("--silent", f"{silent[0]}:{silent[1]}"),
        cwd=ROOT,
        env=live.env,
        stdout=asyncio.subprocess.PIPE,
    )
    removal = restart = None
    async for raw in emitter.stdout:
        line = raw.decode().strip()
        if line.startswith("emitted "):
            done = int(line.split()[1])
            if removal is None:  # as the stream starts: the leaver is closed while events flow to the others
                removal = asyncio.ensure_future(asyncio.to_thread(tool, live, "remove", "leaver"))
            if restart is None and done >= total * 0.6:
                run.restarted_at = done
                restart = asyncio.ensure_future(asyncio.to_thread(restart_daphne, live))
        elif line.startswith("{"):
            run.emitter = json.loads(line)
    await emitter.wait()
    if removal is not None:
        await removal
    if restart is None:  # (a silent burst reached the end) restart now, while the watchers catch up
        restart = asyncio.ensure_future(asyncio.to_thread(restart_daphne, live))
    run.restarted_in = await restart
    await asyncio.wait(tasks, timeout=max(1.0, deadline - time.monotonic()))
    for task in tasks:
        task.cancel()
    try:
        probe = await WsClient.connect(live.port, path, watchers["leaver"].cookie, timeout=5)
        run.refused_after_leaving = 101
        await probe.close()
    except Refused as exc:
        run.refused_after_leaving = exc.status
    return run


def phase(data_dir: Path, tally):
    """`make soak` phase "replay": the full size (1,000 events at ~200/s, 10 drops), times SWARM_SOAK_SCALE."""
    scale = max(1, int(os.environ.get("SWARM_SOAK_SCALE", "1")))
    seed = int(os.environ.get("SWARM_SOAK_SEED", "7"))
    live = start_app(data_dir / "replay", os.environ["REDIS_URL"], os.environ.get("DATABASE_URL", ""))
    try:
        info = tool(live, "prepare", *STAYING, "leaver")
        run = asyncio.run(run_replay(live, info, total=1000 * scale, rate=200, drops=10 * scale, seed=seed))
    finally:
        live.stop()
    staying = [run.watchers[n] for n in STAYING]
    tally.faults = run.watchers["flaky"].drops + 3  # + the slow reader's pause, the dropped burst, the crash
    tally.runs = sum(w.exact(run.total) for w in staying)
    tally.lost = sum(w.lost(run.total) for w in staying)
    tally.duplicated = sum(w.duplicated() for w in staying)
    tally.out_of_order = sum(w.out_of_order() for w in staying)
    problems = run.problems()
    tally.out_of_order += len([p for p in problems if p.startswith(("leaver", "flaky: only", "daphne"))])
    tally.notes += problems
    tally.notes.append(
        f"emitted {run.emitter.get('events')} events at {run.emitter.get('rate')}/s; daphne killed after event"
        f" {run.restarted_at or run.total}, back in {run.restarted_in or 0:.1f} s; connects "
        + ", ".join(f"{w.name} {w.connects}" for w in run.watchers.values())
    )
    return tally
