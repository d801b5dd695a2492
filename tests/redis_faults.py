"""RELIABILITY 3, Redis restart and Redis data loss, as one harness for the short test and for `make soak`.

A deployment as an operator runs it (tests/live_server.py: migrate, seed_demo, daphne with the real settings), a
Celery worker, a fresh PostgreSQL database and a redis-server of its own (tests/redis_server.py), with Swarm's
default sweep and overdue windows. Each fault gets a fresh fleet of diligent simulated agents, three websocket
clients that behave like static/js/live.js (reconnect with `?after=<last seq>`, check the seqs), and one worker
thread, so that steps wait in Redis's queue. Then one of:

- restart: `redis-cli shutdown nosave`, the pages and a message sent while Redis is down, a restart without
  persistence (everything queued is gone);
- flush: FLUSHALL while steps wait in the queue;
- outage: the same as restart, with Redis down for longer (30 s in the soak).

What a user would notice is measured: how long after Redis is back every agent running then moves on again (60 s
at most), whether every agent finishes with gapless events and no step done twice, what the pages answered while
Redis was down (200, never a 500), and whether each socket had every event within 10 s of Redis's return (or of
the event, if later) with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import random
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests.distributed import DILIGENT_TOOLS
from tests.live_server import LiveApp, fresh_postgres_database, logger, query_rows, worker_argv
from tests.redis_server import RedisServer
from tests.waiting import NotWithin, wait_until

RESUME_WITHIN = 60  # s after Redis is back: every agent running then has moved on (RELIABILITY 3)
SOCKET_WITHIN = 10  # s after Redis is back, or after the event if later: every socket has it
# Recovery must not lean on short test windows: these keep their defaults (30 s sweep, 60 s overdue, 300 s lease).
DEFAULT_KNOBS = (
    "SWARM_SWEEP_SECONDS",
    "SWARM_STEP_OVERDUE_SECONDS",
    "SWARM_LEASE_SECONDS",
    "SWARM_BROKER_VISIBILITY_SECONDS",
    "SWARM_REDIS_CHECK_SECONDS",
)
SETTLE_WITHIN = 240  # s for the fleet to finish after the fault (one worker thread, verification included)

LAUNCH = """
import json
from agents import demo, services
from agents.models import TaskSpec
template = TaskSpec.objects.filter(team__name="Demo team").order_by("pk").first()
task = demo.task_like(template, {roster!r}, title={title!r})
print("TASK=" + str(task.pk))
print("AGENTS=" + json.dumps({{a.name: a.pk for a in services.launch_task(task)}}))
"""


_log = logger("redis-faults")


@dataclass
class FaultResult:
    fault: str
    agents: int = 0
    down_seconds: float = 0.0
    queued_at_fault: int = 0  # step tasks waiting in Redis when the fault hit
    resumed_in: float | None = None  # s from Redis's return until every agent running then moved on
    finished: int = 0
    lost: int = 0  # event seq gaps, tool calls missing, events a socket never got
    duplicated: int = 0  # tool calls done twice, events a socket got twice
    pages: int = 0  # pages and posts tried while Redis was down
    page_errors: list[str] = field(default_factory=list)
    socket_events: int = 0
    socket_late: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        resumed = self.resumed_in is not None and self.resumed_in <= RESUME_WITHIN
        clean = not (self.lost or self.duplicated or self.page_errors or self.socket_late)
        return resumed and clean and self.finished == self.agents


class SocketClient:
    """One browser tab's live region, as static/js/live.js runs it: every seq it got, with the wall time."""

    def __init__(self, base_url: str, cookies: dict[str, str], agent_id: int):
        self.url = base_url.replace("http://", "ws://") + f"/ws/agents/{agent_id}/"
        self.origin, self.cookies, self.agent_id = base_url, cookies, agent_id
        self.received: list[tuple[int, float]] = []
        self.gaps = self.duplicates = self.connects = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.thread.start()

    @property
    def last(self) -> int:
        return self.received[-1][0] if self.received else 0

    async def _run(self) -> None:
        import aiohttp

        attempt = 0
        timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10)
        async with aiohttp.ClientSession(cookies=self.cookies, timeout=timeout) as session:
            while not self.stopping.is_set():
                code = None
                try:
                    url = f"{self.url}?after={self.last}"
                    async with session.ws_connect(url, headers={"Origin": self.origin}) as ws:
                        self.connects += 1
                        attempt = 0
                        while not self.stopping.is_set():
                            try:
                                msg = await ws.receive(timeout=0.5)
                            except TimeoutError:
                                continue
                            if msg.type == aiohttp.WSMsgType.TEXT:
                                self._take(json.loads(msg.data))
                            elif msg.type in (
                                aiohttp.WSMsgType.CLOSE,
                                aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.ERROR,
                            ):
                                break
                        code = ws.close_code
                except (aiohttp.ClientError, TimeoutError, OSError):
                    pass  # refused or cut while the server or its Redis is down
                if code in (4403, 4404):
                    return  # fatal, as in live.js
                await asyncio.sleep(min(5.0, 0.5 * 2**attempt) * random.uniform(0.5, 1))  # live.js's backoff
                attempt += 1

    def _take(self, data: dict) -> None:
        seq = data.get("seq")
        if seq is None:
            return
        if seq <= self.last:
            self.duplicates += 1
            return
        self.gaps += seq - self.last - 1
        self.received.append((seq, time.time()))

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=15)


class Deployment:
    """The app's processes on a Redis of their own; `with Deployment(dir) as d:` always takes everything down."""

    def __init__(self, directory: Path, step_delay: float = 0.0):
        self.directory = directory
        self.step_delay = step_delay
        self.stack = ExitStack()

    def __enter__(self) -> Deployment:
        try:
            self.redis = self.stack.enter_context(RedisServer(self.directory / "redis"))
            self.database_url = self.stack.enter_context(fresh_postgres_database("swarm_redis_faults"))
            env = {"REDIS_URL": self.redis.url, "DATABASE_URL": self.database_url}
            env.update(dict.fromkeys(DEFAULT_KNOBS, ""))  # empty: the setting's default, whatever the caller set
            # "embedded" only says the harness starts the worker itself: with REDIS_URL the app runs on Celery
            self.app = LiveApp("embedded", self.directory / "app", extra_env=env, step_delay=self.step_delay)
            self.stack.callback(self.app.stop)
            self.app.start()
            self.worker = self.app._spawn("worker", worker_argv(f"faults-{uuid.uuid4().hex[:6]}", concurrency=1))
            self.app.wait_for_log("worker", "ready.", timeout=90)
            self._log_in()
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stack.close()

    def _log_in(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        page = self.http.open(f"{self.app.base_url}/accounts/login/", timeout=30).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = {"username": "admin", "password": self.app.admin_password, "csrfmiddlewaretoken": token}
        self.post("/accounts/login/", form)
        assert "sessionid" in self.cookies, "the admin could not log in"

    @property
    def cookies(self) -> dict[str, str]:
        return {c.name: c.value for c in self.jar}

    def get(self, path: str) -> int:
        try:
            with self.http.open(self.app.base_url + path, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def post(self, path: str, form: dict) -> int:
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **form}).encode()
        request = urllib.request.Request(self.app.base_url + path, data=data, headers={"Referer": self.app.base_url})
        try:
            with self.http.open(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def rows(self, sql: str, *params) -> list[tuple]:
        return query_rows(self.database_url, sql, *params)

    def launch(self, names: list[str]) -> tuple[int, dict[str, int]]:
        roster = [(name, "sim-diligent") for name in names]
        out = self.app.manage("shell", "-c", LAUNCH.format(roster=roster, title=f"redis faults {uuid.uuid4().hex[:8]}"))
        found = dict(line.split("=", 1) for line in out.splitlines() if line.startswith(("TASK=", "AGENTS=")))
        return int(found["TASK"]), json.loads(found["AGENTS"])

    def agents(self, task_id: int) -> dict[int, dict]:
        columns = ["id", "name", "status", "steps", "next_seq", "leased"]
        rows = self.rows(
            "SELECT id, name, status, steps, next_seq, lease_expires_at > now() FROM agents_agent WHERE task_id = %s",
            task_id,
        )
        return {row[0]: dict(zip(columns, row, strict=True)) for row in rows}

    def alive(self) -> None:
        for name, proc, _ in self.app.procs:
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}\n{self.app.logs()[-8000:]}")


def run_fault(deployment: Deployment, fault: str, agents: int = 6, down: float = 4.0, clients: int = 3) -> FaultResult:
    """Launch a fleet, hit Redis with the fault, measure (see the module docstring)."""
    d = deployment
    result = FaultResult(fault, agents=agents)
    task_id, ids = d.launch([f"{fault[:1].upper()}{i}" for i in range(1, agents + 1)])
    sockets = [SocketClient(d.app.base_url, d.cookies, agent_id) for agent_id in list(ids.values())[:clients]]
    try:
        _wait(d, "the fleet to be mid-run", lambda: _mid_run(d.agents(task_id)), 120)
        result.queued_at_fault = d.redis.queued()
        fault_wall = time.time()
        message_id = _hit(d, fault, task_id, down, result)
        back, back_wall = time.monotonic(), time.time()
        _log(f"{fault}: Redis back ({result.queued_at_fault} steps were queued in it)")

        running = {pk: a["next_seq"] for pk, a in d.agents(task_id).items() if a["status"] == "running"}

        def moved_on() -> bool:
            now = d.agents(task_id)
            return all(now[pk]["next_seq"] > seq or now[pk]["status"] != "running" for pk, seq in running.items())

        if _wait(d, "every running agent to move on", moved_on, SETTLE_WITHIN, fail=False):
            result.resumed_in = time.monotonic() - back
        settled = _wait(d, "the fleet to finish", lambda: _settled(d.agents(task_id)), SETTLE_WITHIN, fail=False)
        if not settled:
            result.notes.append(f"not settled: {sorted((a['name'], a['status']) for a in d.agents(task_id).values())}")
        _check_work(d, task_id, message_id, result)
        _check_sockets(d, sockets, fault_wall, back_wall, result)
    finally:
        for socket in sockets:
            socket.stop()
    _log(f"{fault}: {result}")
    return result


def _hit(d: Deployment, fault: str, task_id: int, down: float, result: FaultResult) -> int | None:
    """Inject the fault; while Redis is down, try the pages and send a message. Returns the message's id."""
    if fault == "flush":
        d.redis.flushall()
        return None
    d.redis.shutdown_nosave()
    started = time.monotonic()
    agents = d.agents(task_id)
    target = min((a for a in agents.values() if a["status"] == "running"), key=lambda a: a["steps"], default=None)
    paths = ["/", f"/tasks/{task_id}/", f"/agents/{next(iter(agents))}/", "/reviews/", "/team/"]
    message_id = None
    while True:
        for path in paths:
            result.pages += 1
            if (status := d.get(path)) != 200:
                result.page_errors.append(f"GET {path} answered {status} while Redis was down")
        if target is not None and message_id is None:
            client_msg_id = uuid.uuid4().hex
            form = {"text": "Are the tests still green?", "mode": "queue", "client_msg_id": client_msg_id}
            result.pages += 1
            status = d.post(f"/agents/{target['id']}/messages/", form)  # redirected to the agent's page
            found = d.rows("SELECT id FROM agents_message WHERE client_msg_id = %s", client_msg_id)
            if status != 200 or not found:
                result.page_errors.append(f"POST a message answered {status} while Redis was down, stored: {found}")
            message_id = found[0][0] if found else None
        if time.monotonic() - started >= down:
            break
        time.sleep(1)
    result.down_seconds = time.monotonic() - started
    d.redis.start()
    return message_id


def _mid_run(agents: dict[int, dict]) -> bool:
    steps = [a["steps"] for a in agents.values()]
    return sum(steps) >= len(steps) and sum(a["status"] == "running" for a in agents.values()) >= len(steps) - 1


def _settled(agents: dict[int, dict]) -> bool:
    return all(a["status"] != "running" and not a["leased"] for a in agents.values())


def _wait(d: Deployment, what: str, predicate, timeout: float, fail: bool = True) -> bool:
    def alive_and():  # a process that died fails at once, whatever `fail` says
        d.alive()
        return predicate()

    try:
        return bool(wait_until(alive_and, what, timeout, 0.25, details=lambda: d.app.logs()[-8000:]))
    except NotWithin:
        if fail:
            raise
        return False


def _check_work(d: Deployment, task_id: int, message_id: int | None, result: FaultResult) -> None:
    """Every agent finished; its events are 1..N; each tool call happened once (the messaged one may differ)."""
    messaged = d.rows("SELECT agent_id FROM agents_message WHERE id = %s", message_id)[0][0] if message_id else None
    for pk, agent in d.agents(task_id).items():
        result.finished += agent["status"] == "awaiting_review"
        seqs = [seq for (seq,) in d.rows("SELECT seq FROM agents_event WHERE agent_id = %s ORDER BY seq", pk)]
        result.lost += sum(b - a - 1 for a, b in zip([0, *seqs], seqs, strict=False))
        result.duplicated += len(seqs) - len(set(seqs))
        tools = [
            t
            for (t,) in d.rows(
                "SELECT payload->>'tool' FROM agents_event WHERE agent_id = %s AND kind = 'tool_call' ORDER BY seq", pk
            )
        ]
        if pk != messaged and tools != DILIGENT_TOOLS:
            extra = len(tools) - len(DILIGENT_TOOLS)
            result.duplicated += max(0, extra)
            result.lost += max(0, -extra) or (extra == 0)
            result.notes.append(f"{agent['name']}: tool calls {tools}")
    if message_id:
        (state,) = d.rows("SELECT state FROM agents_message WHERE id = %s", message_id)[0]
        if state == "queued":
            result.lost += 1
            result.notes.append("the message sent while Redis was down was never delivered")


def _check_sockets(d: Deployment, sockets: list[SocketClient], fault_wall: float, back_wall: float, result) -> None:
    """Each socket ends with exactly the agent's events, each recorded since the fault on time (see SOCKET_WITHIN)."""
    for socket in sockets:
        recorded = {
            seq: created.timestamp()
            for seq, created in d.rows("SELECT seq, created_at FROM agents_event WHERE agent_id = %s", socket.agent_id)
        }
        deadline = time.monotonic() + 30
        while socket.last < max(recorded, default=0) and time.monotonic() < deadline:
            time.sleep(0.2)
        got = dict(socket.received)
        result.socket_events += len(got)
        result.lost += socket.gaps + len(set(recorded) - set(got))
        result.duplicated += socket.duplicates
        for seq, created in sorted(recorded.items()):
            if created < fault_wall or seq not in got:
                continue
            late = got[seq] - (max(created, back_wall) + SOCKET_WITHIN)
            if late > 0:
                when = datetime.fromtimestamp(got[seq]).strftime("%H:%M:%S")
                result.socket_late.append(
                    f"agent {socket.agent_id} seq {seq} reached a socket {late:.1f} s late ({when})"
                )
