"""Stopping and starting the real processes while agents work: daphne as `make run` starts it, Celery as
`make worker` does. No HTTP request is made to the restarted server: the agents must resume on their own.

Each agent's verify command is a long sandboxed `sleep`, so a stop always lands while steps are running.
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
import uuid

import psutil
import pytest

from tests.live_server import BIN, ROOT, LiveApp, distributed_services, free_port, kill_group, query_rows
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(300)

# seconds from SIGTERM to exit (the bar): the running steps get SWARM_SHUTDOWN_SECONDS (5) to hand back, then
# the process exits, while the commands cut short run for COMMAND_SECONDS: a stop that waited for them takes minutes
STOP_WITHIN = 10
# seconds from the server being up to the first new step of a resumed agent: below the periodic sweep's 30 s and the
# lease's 300 s, so only the start-up's own resumption gets there in time
RESUME_WITHIN = 20
COMMAND_SECONDS = 120  # each agent's verify command sleeps this long

LAUNCH = """
import json
from agents.demo import seed
from agents.services import launch_task
team, task = seed()
task.verify_command = {command!r}
task.save(update_fields=["verify_command"])
print("AGENTS=" + json.dumps([a.pk for a in launch_task(task)]))
"""


def _launch(app: LiveApp, command: str) -> list[int]:
    """Seed and launch the demo task from a shell that runs no step itself (the server will)."""
    done = subprocess.run(
        [str(BIN / "python"), "manage.py", "shell", "-c", LAUNCH.format(command=command)],
        cwd=ROOT,
        env={**app.env, "SWARM_SCHEDULER": "agents.scheduling.manual.ManualScheduler"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("AGENTS="))
    return json.loads(line.split("=", 1)[1])


class Db:
    def __init__(self, query):
        self.query = query

    def progress(self) -> dict[int, int]:
        """Each running agent's newest event seq."""
        return dict(self.query("SELECT a.id, a.next_seq FROM agents_agent a WHERE a.status = 'running'"))

    def in_command(self) -> list[int]:
        """Agents whose step is inside the long verify command right now (a leased step, the model asked for it)."""
        return [
            pk
            for (pk,) in self.query(
                """SELECT a.id FROM agents_agent a WHERE a.status = 'running' AND a.lease_expires_at IS NOT NULL
                AND EXISTS (SELECT 1 FROM agents_event e WHERE e.agent_id = a.id AND e.seq = a.next_seq - 1
                            AND e.kind = 'model_turn')
                AND (SELECT count(*) FROM agents_event e WHERE e.agent_id = a.id AND e.kind = 'model_turn') IN (4, 6)"""
            )
        ]

    def held_by(self, pid: int) -> set[int]:
        rows = self.query("SELECT id, lease_owner FROM agents_agent WHERE lease_expires_at IS NOT NULL")
        return {pk for pk, owner in rows if owner.split(":")[1:2] == [str(pid)]}

    # A process's leases; not a submission's "queued" mark (its verification waits in a queue, and a start-up sweep
    # queues it again when that queue died with the process: tests/test_verify_queue.py). Agents that submitted
    # before the SIGTERM carry one.
    HELD = "lease_expires_at IS NOT NULL AND lease_owner <> 'queued'"

    def leases(self) -> list:
        return self.query(f"SELECT id, status, lease_owner, lease_expires_at FROM agents_agent WHERE {self.HELD}")

    def held_leases(self) -> int:
        return self.query(f"SELECT count(*) FROM agents_agent WHERE {self.HELD}")[0][0]

    def kinds(self, kind: str) -> int:
        assert kind.isidentifier()
        return self.query(f"SELECT count(*) FROM agents_event WHERE kind = '{kind}'")[0][0]


def _wait(what: str, predicate, timeout: float, app: LiveApp, poll: float = 0.1):
    return wait_until(predicate, what, timeout, poll, details=app.logs)


def _sigterm(proc: subprocess.Popen, what: str, patience: float, app: LiveApp) -> float:
    """SIGTERM to the main process only, as `kill PID` or systemd sends it; the seconds it took to exit."""
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    try:
        proc.wait(timeout=patience)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} still alive {patience:.0f} s after SIGTERM\n{app.logs()}")
    return time.monotonic() - sent


def _start_daphne(app: LiveApp, name: str) -> tuple[subprocess.Popen, float]:
    port = free_port()
    proc = app._spawn(name, [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "swarm_web.asgi:application"])
    # "up" is when daphne accepts connections; no request is ever sent to it

    def listening() -> bool:
        assert proc.poll() is None, app.logs()
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    _wait(f"{name} listening", listening, 90, app)
    proc.port = port
    return proc, time.monotonic()


def _resumed(db: Db, before: dict[int, int], server: subprocess.Popen) -> bool:
    """Every agent running before is at work again: a new event, or a step of the new server under way (a
    command cut short is run again from its start, and its event comes when it ends)."""
    now = db.progress()
    mine = db.held_by(server.pid)
    return bool(before) and all(now.get(pk, 10**9) > seq or pk in mine for pk, seq in before.items())


def _resumed_by_any(db: Db, before: dict[int, int], pids: set[int], enough: int) -> bool:
    """At least `enough` of the agents running before are at work again under these processes."""
    now = db.progress()
    held = set().union(*(db.held_by(pid) for pid in pids))
    return sum(1 for pk, seq in before.items() if now.get(pk, 10**9) > seq or pk in held) >= enough


@pytest.mark.own_sqlite
def test_make_run_resumes_its_agents_at_start_up_after_a_kill_and_stops_within_seconds_of_sigterm(tmp_path):
    app = LiveApp("embedded", tmp_path / "app", step_delay=0.5)
    app.data_dir.mkdir(parents=True)
    app.manage("migrate", "--noinput", "-v0")
    app.manage("seed_demo")

    def query(sql):
        with sqlite3.connect(app.data_dir / "swarm.sqlite3", timeout=20) as conn:
            return conn.execute(sql.replace("%s", "?")).fetchall()

    db = Db(query)
    agents = _launch(app, f"sleep {COMMAND_SECONDS}")
    try:
        # 1. a fresh server starts agents launched while it was down, with no page request
        before = db.progress()
        first, up = _start_daphne(app, "daphne1")
        _wait("every launched agent's first step", lambda: _resumed(db, before, first), RESUME_WITHIN + 30, app)
        started_in = time.monotonic() - up
        assert started_in <= RESUME_WITHIN, f"agents started {started_in:.1f} s after the server was up"

        # 2. SIGKILL while steps run their command; the restarted server resumes them at once
        _wait("a step inside its command", db.in_command, 60, app)
        kill_group(first)
        assert db.held_leases() > 0, "the kill should leave leases held by the dead process"
        before = db.progress()
        second, up = _start_daphne(app, "daphne2")
        _wait("every running agent's next step after the kill", lambda: _resumed(db, before, second), 60, app)
        resumed_in = time.monotonic() - up
        assert resumed_in <= RESUME_WITHIN, f"agents resumed {resumed_in:.1f} s after start-up (lease 300 s)"

        # 3. SIGTERM while steps run their command: out within seconds, every lease handed back
        _wait("a step inside its command", db.in_command, 60, app)
        handed_before = db.kinds("handed_back")
        took = _sigterm(second, "daphne", STOP_WITHIN + 5, app)
        assert took <= STOP_WITHIN, f"daphne took {took:.1f} s to stop"
        assert db.held_leases() == 0, f"a stopped server left leases held: {db.leases()}\n{app.logs()}"
        assert db.kinds("handed_back") > handed_before

        before = db.progress()
        third, up = _start_daphne(app, "daphne3")
        _wait("every running agent's next step after SIGTERM", lambda: _resumed(db, before, third), 60, app)
        resumed_in = time.monotonic() - up
        assert resumed_in <= RESUME_WITHIN, f"agents resumed {resumed_in:.1f} s after start-up"
        # and it serves pages (only now: no request may have woken the agents up)
        with urllib.request.urlopen(f"http://127.0.0.1:{third.port}/accounts/login/", timeout=10) as response:
            assert response.status == 200
    finally:
        app.stop()
    assert len(agents) == 8


@pytest.mark.distributed
def test_make_worker_stops_within_seconds_of_sigterm_and_another_worker_takes_its_agents(tmp_path):
    with distributed_services(8, "swarm_faults") as services:
        database_url = services["DATABASE_URL"]
        app = LiveApp(
            "distributed", tmp_path / "app", step_delay=0.5, extra_env={**services, "SWARM_SWEEP_SECONDS": "2"}
        )
        app.data_dir.mkdir(parents=True)
        app.manage("migrate", "--noinput", "-v0")
        app.manage("seed_demo")

        db = Db(lambda sql: query_rows(database_url, sql))

        def worker(name: str) -> subprocess.Popen:
            # what `make worker` runs (the prefork pool), with a unique node name
            argv = [str(BIN / "celery"), "-A", "swarm_web", "worker", "--loglevel=INFO", "--concurrency=4"]
            proc = app._spawn(name, [*argv, "--hostname", f"{name}-{uuid.uuid4().hex[:6]}@%h"])
            _wait(f"{name} ready", lambda: "ready." in app.log(name), 90, app)
            return proc

        try:
            first = worker("worker1")
            _launch(app, f"sleep {COMMAND_SECONDS}")
            _wait("steps inside their command", lambda: len(db.in_command()) >= 2, 90, app)
            handed_before = db.kinds("handed_back")
            took = _sigterm(first, "the worker", STOP_WITHIN + 10, app)
            assert took <= STOP_WITHIN, f"the worker took {took:.1f} s to stop\n{app.log('worker1')[-3000:]}"
            assert db.held_leases() == 0, f"the stopped worker left leases held: {db.leases()}"
            assert db.kinds("handed_back") > handed_before

            before = db.progress()
            second = worker("worker2")
            up = time.monotonic()
            children = {second.pid, *(c.pid for c in psutil.Process(second.pid).children())}
            # the new worker has 4 pool processes, and a resumed step reruns its long command: 4 at once
            _wait(
                "the new worker's pool busy with the agents handed back",
                lambda: _resumed_by_any(db, before, children, min(4, len(before))),
                60,
                app,
            )
            assert time.monotonic() - up <= RESUME_WITHIN
        finally:
            app.stop()
