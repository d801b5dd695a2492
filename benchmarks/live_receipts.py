"""Message receipts as a browser sees them, in the distributed mode.

The report: a distributed run once showed a message go queued -> answered without "delivered". Here simulated
agents run on Celery workers; messages in all three modes go in through the API while a worker is stopped with
SIGTERM and replaced; watchers open the agent's page, follow its socket (dropping and resuming it with `?after=`, as
static/js/live.js does) and load the page again, as people do.

A view is one page load and the socket that follows it. It keeps the receipt states each message showed, in order,
applying messages exactly as live.js does (a seq at or below the last one shown is ignored). Pass: no view saw a
message's receipt go backwards or skip "delivered"; no socket sent a seq twice, out of order, or an event of another
agent; at the end each message's receipt on a fresh page equals its state in the database.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.live_tools import start_app, tool
from tests.live_server import LiveApp, kill_group, worker_argv
from tests.ws_client import Closed, Refused, WsClient

RECEIPT = re.compile(r'id="message-(\d+)-receipt">(\w+)<')
EVENT_ID = re.compile(r'id="event-(\d+)-(\d+)"')
LAST_SEQ = re.compile(r'id="transcript"[^>]*data-last-seq="(\d+)"')
RANK = {"queued": 0, "delivered": 1, "answered": 2}
MODES = ["queue", "queue", "steer", "interrupt"]


@dataclass
class ReceiptRun:
    rounds: int = 0
    agents: int = 0
    sent: int = 0
    answered: int = 0
    views: int = 0
    drops: int = 0
    worker_restarts: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    foreign: int = 0
    skipped: list[str] = field(default_factory=list)  # a view saw queued -> answered, or a receipt go backwards
    final_mismatch: list[str] = field(default_factory=list)
    unsettled: list[int] = field(default_factory=list)

    def problems(self) -> list[str]:
        found = [f"receipts: {s}" for s in self.skipped] + [f"final page: {m}" for m in self.final_mismatch]
        if self.duplicated or self.out_of_order or self.foreign:
            found.append(
                f"sockets: {self.duplicated} seqs twice, {self.out_of_order} out of order, {self.foreign} foreign"
            )
        if self.unsettled:
            found.append(f"agents still running at the end: {self.unsettled}")
        return found


class View:
    """What one page load shows, kept up to date by its socket like live.js."""

    def __init__(self, agent_id: int, page: str):
        found = LAST_SEQ.search(page)
        self.agent_id = agent_id
        self.last = int(found.group(1)) if found else 0
        self.receipts: dict[str, list[str]] = {}
        self._see(page)

    def _see(self, html: str) -> None:
        for message_id, state in RECEIPT.findall(html):
            shown = self.receipts.setdefault(message_id, [])
            if not shown or shown[-1] != state:
                shown.append(state)

    def apply(self, message: dict, run: ReceiptRun) -> None:
        seq, html = message["seq"], message["html"]
        if seq is not None:
            ids = EVENT_ID.findall(html)
            if not ids or ids[0] != (str(self.agent_id), str(seq)):
                run.foreign += 1
            if seq <= self.last:
                run.duplicated += 1  # the server sent a seq this view already shows
                return
            if seq != self.last + 1:
                run.out_of_order += 1
            self.last = seq
        self._see(html)

    def check(self, run: ReceiptRun) -> None:
        for message_id, states in self.receipts.items():
            ranks = [RANK.get(s, -9) for s in states]
            if any(b < a or b - a > 1 for a, b in zip(ranks, ranks[1:], strict=False)):
                run.skipped.append(f"message {message_id} on agent {self.agent_id}: {' -> '.join(states)}")


def http(
    port: int, path: str, cookie: str = "", token: str = "", body: dict | None = None, timeout: float = 30
) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST" if body is not None else "GET")
    if cookie:
        request.add_header("Cookie", cookie)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, data=data, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


async def _follow(run: ReceiptRun, port: int, agent_id: int, cookie: str, rng: random.Random, stop) -> None:
    """Visits until told to stop: load the page, follow the socket for a while (sometimes dropping it), leave."""
    while not stop.is_set():
        status, page = await asyncio.to_thread(http, port, f"/agents/{agent_id}/", cookie)
        if status != 200:
            await asyncio.sleep(0.5)
            continue
        view = View(agent_id, page)
        run.views += 1
        leave = time.monotonic() + rng.uniform(1.0, 5.0)
        while time.monotonic() < leave and not stop.is_set():
            try:
                ws = await WsClient.connect(port, f"/ws/agents/{agent_id}/?after={view.last}", cookie, timeout=5)
            except (Refused, OSError, TimeoutError):
                await asyncio.sleep(0.2)
                continue
            drop = rng.random() < 0.4
            until = min(leave, time.monotonic() + rng.uniform(0.2, 2.0)) if drop else leave
            try:
                while not stop.is_set():
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    view.apply(json.loads(await ws.recv(timeout=left)), run)
            except (Closed, TimeoutError):
                pass
            if ws.close_code is None:
                if drop and until < leave:
                    ws.abort()
                    run.drops += 1
                else:
                    await ws.close()
        view.check(run)


def _launch(port: int, token: str, count: int, number: int) -> list[int]:
    """A task of `count` diligent simulated agents on the demo repository, written and launched through the API."""
    spec = {
        "repo": "mathutil",
        "title": f"receipts round {number} {uuid.uuid4().hex[:6]}",
        "goal": "mean([2, 4, 6]) must be 4.",
        "acceptance": ["The whole test suite passes"],
        "verify_command": "python -m pytest -q",
        "agents": [{"name": f"Sim{i}", "model": "sim-diligent"} for i in range(count)],
    }
    status, task = http(port, "/api/tasks", token=token, body=spec)
    if status != 201:
        raise RuntimeError(f"POST /api/tasks answered {status}: {task}")
    status, launched = http(port, f"/api/tasks/{json.loads(task)['id']}/launch", token=token, body={}, timeout=120)
    if status != 201:
        raise RuntimeError(f"launch answered {status}: {launched}")
    return [a["id"] for a in json.loads(launched)["agents"]]


def _start_worker(live: LiveApp, number: int):
    return live._spawn(f"celery-{number}", worker_argv(f"receipts{number}-{uuid.uuid4().hex[:6]}"))


def _replace_worker(live: LiveApp, proc, number: int):
    """SIGTERM (a deploy, a scale-down): the worker hands its steps back and leaves; another takes over."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except Exception:  # noqa: BLE001 (any failure to stop: kill it)
        kill_group(proc)
    return _start_worker(live, number)


async def run_receipts(live: LiveApp, info: dict, rounds: int, agents: int, messages: int, seed: int) -> ReceiptRun:
    run = ReceiptRun()
    rng = random.Random(seed)
    token, cookie = info["users"]["sender"]["token"], info["users"]["watcher"]["cookie"]
    workers = 1
    worker = _start_worker(live, workers)
    await asyncio.to_thread(live.wait_for_log, "celery-1", "ready.", 120)
    # the web process imports its task module (and litellm) at start: wait for it, the soak measures what follows
    await asyncio.to_thread(live.wait_for_log, "daphne", "steps can be scheduled", 180)
    for number in range(rounds):
        ids = await asyncio.to_thread(_launch, live.port, token, agents, number)
        run.rounds, run.agents = run.rounds + 1, run.agents + len(ids)
        stop = asyncio.Event()
        followers = [
            asyncio.ensure_future(_follow(run, live.port, a, cookie, random.Random(rng.random()), stop)) for a in ids
        ]
        running, sent, restarted = set(ids), 0, False
        deadline = time.monotonic() + 180
        while sent < messages and running and time.monotonic() < deadline:
            agent, mode = rng.choice(sorted(running)), rng.choice(MODES)
            status, detail = await asyncio.to_thread(http, live.port, f"/api/agents/{agent}", token=token)
            agent_status = json.loads(detail)["status"] if status == 200 else ""
            if agent_status == "preparing":
                await asyncio.sleep(0.2)  # its worktree is made in the background; it starts when that is ready
                continue
            if status == 200 and agent_status != "running":
                running.discard(agent)  # submitted or paused: a message would wait for a person, not be answered
                continue
            body = {"text": f"round {number} message {sent} ({mode})", "mode": mode, "client_msg_id": uuid.uuid4().hex}
            status, _ = await asyncio.to_thread(
                http, live.port, f"/api/agents/{agent}/messages", token=token, body=body
            )
            if status == 201:
                sent += 1
            elif status == 409:
                running.discard(agent)  # it finished meanwhile
            if number % 2 == 0 and not restarted and sent >= messages // 2:
                restarted = True
                workers += 1
                worker = await asyncio.to_thread(_replace_worker, live, worker, workers)
                run.worker_restarts += 1
            await asyncio.sleep(rng.uniform(0.05, 0.3))
        run.sent += sent
        state = {}
        while time.monotonic() < deadline + 120:
            state = await asyncio.to_thread(tool, live, "state", *map(str, ids))
            if not any(a["status"] in ("running", "preparing") or a["leased"] for a in state["agents"].values()):
                break
            await asyncio.sleep(2)
        run.unsettled += [int(a) for a, s in state["agents"].items() if s["status"] == "running"]
        stop.set()
        await asyncio.gather(*followers)
        run.answered += sum(1 for s in state["messages"].values() if s == "answered")
        for agent in ids:  # a fresh page shows each message as the database has it
            _, page = await asyncio.to_thread(http, live.port, f"/agents/{agent}/", cookie)
            for message_id, shown in RECEIPT.findall(page):
                if state["messages"].get(message_id) != shown:
                    run.final_mismatch.append(
                        f"message {message_id}: page {shown}, db {state['messages'].get(message_id)}"
                    )
    return run


def phase(data_dir: Path, tally):
    """`make soak` phase "receipts": 4 rounds x 4 agents x 16 messages, times SWARM_SOAK_SCALE."""
    scale = max(1, int(os.environ.get("SWARM_SOAK_SCALE", "1")))
    seed = int(os.environ.get("SWARM_SOAK_SEED", "7"))
    live = start_app(
        data_dir / "receipts",
        os.environ["REDIS_URL"],
        os.environ.get("DATABASE_URL", ""),
        SWARM_SCHEDULER="agents.scheduling.celery.CeleryScheduler",
        SWARM_STEP_DELAY=os.environ.get("SWARM_STEP_DELAY", "0.3"),
    )
    try:
        info = tool(live, "prepare", "sender", "watcher")
        run = asyncio.run(run_receipts(live, info, rounds=4 * scale, agents=4, messages=16, seed=seed))
    finally:
        live.stop()
    tally.faults = run.worker_restarts + run.drops
    tally.runs = run.answered
    tally.inputs = run.sent
    tally.duplicated = run.duplicated
    tally.out_of_order = run.out_of_order + run.foreign + len(run.skipped) + len(run.final_mismatch)
    tally.failures = len(run.unsettled)
    tally.notes += run.problems()
    tally.notes.append(
        f"{run.rounds} rounds, {run.agents} agents, {run.sent} messages ({run.answered} answered),"
        f" {run.views} page views, {run.drops} socket drops, {run.worker_restarts} worker restarts"
    )
    return tally
