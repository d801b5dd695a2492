"""The scale-out mode: agents driven only by Celery worker processes on real Redis and PostgreSQL.

Everything runs as a deployment runs it, in subprocesses with the real settings module: `manage.py migrate` into a
fresh PostgreSQL database, `celery -A swarm_web worker` processes the test starts and SIGKILLs, and each test's own
demo team seeded and launched from `manage.py shell`. The tests read the outcome straight from PostgreSQL.
Short lease, sweep and visibility settings make the recovery after a crash take seconds instead of minutes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.live_server import BIN, ROOT, distributed_services, flush_redis_db, query_rows

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(240)]

REDIS_DB = 7
STEP_DELAY = 0.2
SLOW_STEP_DELAY = 3.0
LEASE_SECONDS = 10  # well above the longest step here (the verify command in the sandbox), below the test's patience
SWEEP_SECONDS = 1
OVERDUE_SECONDS = 4
VISIBILITY_SECONDS = 15  # a killed worker's unacked step tasks come back after this (the sweep is often first)
FINISH_WITHIN = 90  # seconds for the 8 demo agents to submit, crash recovery included
VERDICT_WITHIN = 45  # seconds, after the last submission, for every verification to end in a verdict (sweep included)

DILIGENT = {"Ada", "Grace", "Margaret", "Barbara", "Radia"}
LAZY = {"Linus", "Ken"}
QUITTER = {"Alan"}
DILIGENT_TOOLS = ["list_files", "read_file", "read_file", "run_command", "edit_file", "run_command", "submit"]
# one model turn per step: the quitter's extra turn is the one where it tried to stop and was nudged
EXPECTED = {
    **{name: (DILIGENT_TOOLS, 7) for name in DILIGENT},
    **{name: (["submit"], 1) for name in LAZY},
    **{name: (DILIGENT_TOOLS, 8) for name in QUITTER},
}
FIXED_LINE = "return sum(values) / len(values)"
BUGGY_LINE = "return sum(values) / (len(values) - 1)"

# one shell for both: each Django start-up costs seconds on a busy 2-core machine
SEED_AND_LAUNCH = """
import json
from agents.demo import seed
from agents.services import launch_task
team, task = seed({team!r})
agents = launch_task(task)
print("TASK=" + str(task.pk))
print("AGENTS=" + json.dumps({{a.name: a.pk for a in agents}}))
"""


def _log(message: str) -> None:
    print(f"[scale-out {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Swarm:
    """A scale-out deployment (database, Redis db, data dir), one demo team in it, and the test's workers."""

    data_dir: Path
    database_url: str
    redis_url: str
    team: str = "Demo team"
    task_id: int = 0
    step_delay: float = STEP_DELAY
    started: float = field(default_factory=time.monotonic)
    workers: list[tuple[str, subprocess.Popen, Path]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"SWARM_SCHEDULER", "PYTEST_CURRENT_TEST"}}
        env.update(
            DJANGO_SETTINGS_MODULE="swarm_web.settings",  # the real app's settings, never tests.settings
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            SWARM_DATA_DIR=str(self.data_dir),
            SWARM_STEP_DELAY=str(self.step_delay),
            SWARM_LEASE_SECONDS=str(LEASE_SECONDS),
            SWARM_SWEEP_SECONDS=str(SWEEP_SECONDS),
            SWARM_STEP_OVERDUE_SECONDS=str(OVERDUE_SECONDS),
            SWARM_BROKER_VISIBILITY_SECONDS=str(VISIBILITY_SECONDS),
            PYTHONUNBUFFERED="1",
            LOG_LEVEL="INFO",
        )
        return env

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.1f}s"

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "python"), "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def launch_demo(self) -> dict[str, int]:
        """Seed this test's demo team and launch its task; the agents' first steps wait in Redis for a worker."""
        out = dict(
            line.split("=", 1)
            for line in self.manage("shell", "-c", SEED_AND_LAUNCH.format(team=self.team)).splitlines()
            if line.startswith(("TASK=", "AGENTS="))
        )
        self.task_id = int(out["TASK"])
        agents = json.loads(out["AGENTS"])
        _log(f"launched {len(agents)} agents at {self.elapsed()}")
        return agents

    def start_worker(self, pool: str = "threads") -> subprocess.Popen:
        """Start a worker; it comes up while the test goes on (waits notice if it dies)."""
        name = f"worker{len(self.workers) + 1}"
        log_path = self.data_dir / f"{self.team}-{name}.log"
        with open(log_path, "w") as log:
            # its own session: SIGKILL to the group takes the worker and every sandboxed command it started
            proc = subprocess.Popen(
                [
                    str(BIN / "celery"),
                    "-A",
                    "swarm_web",
                    "worker",
                    "--loglevel=INFO",
                    f"--pool={pool}",
                    "--concurrency=4",
                    "--without-gossip",
                    "--without-mingle",
                    "--hostname",
                    f"{name}-{uuid.uuid4().hex[:8]}@%h",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers.append((name, proc, log_path))
        _log(f"{name} ({pool} pool, pid {proc.pid}) started at {self.elapsed()}")
        return proc

    def kill_worker(self, proc: subprocess.Popen) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        _log(f"SIGKILLed worker group {proc.pid} at {self.elapsed()}")

    def stop(self) -> None:
        for _, proc, _ in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def worker_logs(self) -> str:
        return "\n".join(
            f"----- {name} -----\n{path.read_text(errors='replace')[-15_000:]}" for name, _, path in self.workers
        )

    def rows(self, sql: str, *params) -> list[tuple]:
        return query_rows(self.database_url, sql, *params)

    def agents(self) -> dict[str, dict]:
        columns = "id, name, status, status_reason, steps, lease_expires_at, schedule_token, worktree, next_seq"
        result = {}
        for *row, leased in self.rows(
            # leased: somebody is working on it right now (an expired lease is as good as none)
            f"SELECT {columns}, lease_expires_at > now() FROM agents_agent WHERE task_id = %s ORDER BY id",
            self.task_id,
        ):
            record = dict(zip(columns.split(", "), row, strict=True), leased=bool(leased))
            result[record["name"]] = record
        return result

    def wait_for(
        self, what: str, predicate: Callable[[], bool], timeout: float, poll: float = 0.2, detail=lambda: ""
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            for name, proc, _ in self.workers:
                if proc.returncode is None and proc.poll() is not None:
                    raise AssertionError(f"{name} exited with {proc.returncode} while waiting for {what}")
            time.sleep(poll)
        states = {n: (a["status"], a["steps"], a["status_reason"]) for n, a in self.agents().items()}
        raise AssertionError(f"{what}: not within {timeout:.0f} s; {detail()}agents: {states}\n{self.worker_logs()}")

    def verdicts(self) -> dict[str, int]:
        """How many verdicts each agent's submission got (exactly one once the panel has spoken)."""
        counts = dict.fromkeys(self.agents(), 0)
        for name, count in self.rows(
            """
            SELECT a.name, count(e.id) FROM agents_agent a
            LEFT JOIN agents_event e ON e.agent_id = a.id AND e.kind = 'verdict'
            WHERE a.task_id = %s GROUP BY a.name
            """,
            self.task_id,
        ):
            counts[name] = count
        return counts

    def verdict_rows(self) -> dict[str, int]:
        return dict(
            self.rows(
                """
                SELECT a.name, count(v.id) FROM agents_agent a LEFT JOIN judges_verdict v ON v.agent_id = a.id
                WHERE a.task_id = %s GROUP BY a.name
                """,
                self.task_id,
            )
        )

    def wait_until_reviewable(self) -> None:
        """Every agent submitted, its verification done (a verdict, the lease let go): what a reviewer waits for."""
        self.wait_for(
            "all 8 demo agents awaiting review",
            lambda: [a["status"] for a in self.agents().values()] == ["awaiting_review"] * 8,
            FINISH_WITHIN,
        )
        _log(f"all agents awaiting review at {self.elapsed()}")
        self.wait_for(
            "a verdict for every submission",
            lambda: all(self.verdicts().values()) and not any(a["leased"] for a in self.agents().values()),
            VERDICT_WITHIN,
            detail=lambda: (
                f"verdict events per agent {self.verdicts()}, verdict rows {self.verdict_rows()}, "
                f"leased {[n for n, a in self.agents().items() if a['leased']]}; "
            ),
        )
        _log(f"every submission has its verdict at {self.elapsed()}")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A fresh, migrated PostgreSQL database and a data dir, shared by this module's tests (one team each)."""
    with distributed_services(REDIS_DB, "swarm_scale_out") as services:
        migrated = Swarm(tmp_path_factory.mktemp("scale-out-"), services["DATABASE_URL"], services["REDIS_URL"])
        migrated.manage("migrate", "--noinput", "-v0")
        _log(f"migrated a fresh PostgreSQL database in {migrated.elapsed()}")
        yield migrated


@pytest.fixture
def swarm(deployment, request):
    """This test's demo team in the deployment, an empty broker, and no worker yet; its workers die with it."""
    flush_redis_db(REDIS_DB)  # no step task of an earlier test may reach this test's workers
    swarm = Swarm(deployment.data_dir, deployment.database_url, deployment.redis_url, team=request.node.name[:60])
    try:
        yield swarm
    finally:
        swarm.stop()
        flush_redis_db(REDIS_DB)


def _events(swarm: Swarm, agent_id: int) -> tuple[list[tuple[int, str, dict]], int]:
    """The agent's events and its seq counter, from one snapshot (verification may still be appending)."""
    rows = swarm.rows(
        """
        SELECT e.seq, e.kind, e.payload, a.next_seq FROM agents_event e JOIN agents_agent a ON a.id = e.agent_id
        WHERE e.agent_id = %s ORDER BY e.seq
        """,
        agent_id,
    )
    return [row[:3] for row in rows], (rows[-1][3] if rows else 1)


def _assert_each_agent_did_its_work_exactly_once(swarm: Swarm) -> None:
    verdicts = swarm.verdicts()
    for name, agent in swarm.agents().items():
        events, next_seq = _events(swarm, agent["id"])
        seqs = [seq for seq, _, _ in events]
        assert seqs == list(range(1, len(seqs) + 1)), f"{name}: event seqs have a gap or a duplicate: {seqs}"
        assert next_seq == len(seqs) + 1, f"{name}: counter {next_seq} after {len(seqs)} events"

        expected_tools, expected_turns = EXPECTED[name]
        tools = [payload["tool"] for _, kind, payload in events if kind == "tool_call"]
        turns = [seq for seq, kind, _ in events if kind == "model_turn"]
        assert tools == expected_tools, f"{name}: tool calls {tools}, a step ran twice or was lost"
        assert len(turns) == expected_turns == agent["steps"], (
            f"{name}: {len(turns)} model turns recorded for {agent['steps']} steps, expected {expected_turns}"
        )
        assert not agent["leased"], f"{name} still holds a live lease after its verdict"
        assert verdicts[name] == 1, f"{name}'s submission got {verdicts[name]} verdicts"

        source = (Path(agent["worktree"]) / "mathutil.py").read_text()
        if "edit_file" in expected_tools:
            edits = [p for _, kind, p in events if kind == "tool_call" and p["tool"] == "edit_file" and p["ok"]]
            assert len(edits) == 1, f"{name}: {len(edits)} successful edits of mathutil.py"
            assert source.count(FIXED_LINE) == 1 and BUGGY_LINE not in source, f"{name}'s mathutil.py:\n{source}"
        else:
            assert source.count(BUGGY_LINE) == 1, f"{name} (lazy) changed mathutil.py:\n{source}"


def test_demo_swarm_finishes_on_celery_workers(swarm):
    swarm.start_worker()
    agents = swarm.launch_demo()
    assert sorted(agents) == sorted(EXPECTED)

    swarm.wait_until_reviewable()

    _assert_each_agent_did_its_work_exactly_once(swarm)
    log = swarm.worker_logs()
    ran = log.count("Task agents.step[")
    assert "succeeded in" in log and ran >= sum(turns for _, turns in EXPECTED.values()), log[-5000:]
    _log(f"{ran} agents.step task lines in the worker log")


def test_killing_the_worker_mid_run_loses_no_step_and_duplicates_none(swarm):
    first = swarm.start_worker(pool="prefork")  # the group: the worker, its pool processes, their sandboxes
    swarm.launch_demo()

    def in_the_sandbox() -> list[str]:
        # the hard moment: the step's model turn is saved and its verify command is running in the sandbox
        return [
            name
            for (name,) in swarm.rows(
                """
                SELECT a.name FROM agents_agent a WHERE a.task_id = %s AND a.lease_expires_at IS NOT NULL
                AND (SELECT e.payload->>'text' FROM agents_event e WHERE e.agent_id = a.id AND e.kind = 'model_turn'
                     AND e.seq = a.next_seq - 1) LIKE '%%verify command%%'
                """,
                swarm.task_id,
            )
        ]

    swarm.wait_for("an agent running its verify command", lambda: bool(in_the_sandbox()), 60, poll=0.05)
    swarm.kill_worker(first)
    cut_short = in_the_sandbox()
    running = sorted(n for n, a in swarm.agents().items() if a["status"] == "running")
    _log(f"at the kill: running {running}, cut short in the sandbox {cut_short}")
    assert cut_short, "the kill did not land inside a step"

    swarm.start_worker()
    swarm.wait_until_reviewable()

    _assert_each_agent_did_its_work_exactly_once(swarm)
    stuck = swarm.rows(
        "SELECT name FROM agents_agent WHERE task_id = %s AND status = 'running' AND lease_expires_at < now()",
        swarm.task_id,
    )
    assert stuck == []


def test_only_the_newest_schedule_runs_a_step(swarm):
    from celery import Celery

    swarm.step_delay = SLOW_STEP_DELAY  # a slow live chain, so that steps run by stale tasks would stand out
    swarm.start_worker()
    agents = swarm.launch_demo()
    ada = agents["Ada"]

    # Ada between two steps: the live chain has one step task scheduled, with the newest token
    swarm.wait_for(
        "Ada between two steps",
        lambda: (a := swarm.agents()["Ada"])["steps"] >= 1 and a["status"] == "running",
        30,
    )
    before = swarm.agents()["Ada"]
    newest = before["schedule_token"]
    stale = [(newest - 1 - i) % newest for i in range(12)]  # the previous token, and older ones
    client = Celery("stale-sender", broker=swarm.redis_url)
    try:
        sent = [
            client.send_task("agents.step", args=[ada, token], countdown=0.25 * i).id for i, token in enumerate(stale)
        ]
    finally:
        client.close()
    sent_at = time.monotonic()

    # had any stale task run a step, Ada would take one step per stale task, far faster than STEP_DELAY paces her
    swarm.wait_for(
        "every stale step task processed",
        lambda: all(f"Task agents.step[{task_id}] succeeded" in swarm.worker_logs() for task_id in sent),
        30,
    )
    window = time.monotonic() - sent_at
    after = swarm.agents()["Ada"]
    live_chain = 1 + int(window / SLOW_STEP_DELAY)
    _log(f"{len(sent)} stale tasks processed in {window:.1f}s; Ada's steps {before['steps']} -> {after['steps']}")
    assert after["steps"] - before["steps"] <= live_chain, "a stale schedule ran a step"

    swarm.wait_until_reviewable()
    _assert_each_agent_did_its_work_exactly_once(swarm)


def test_a_verification_cut_short_by_a_worker_crash_still_ends_in_a_verdict(swarm):
    first = swarm.start_worker()
    swarm.launch_demo()

    def being_verified() -> list[str]:
        return [
            name
            for (name,) in swarm.rows(
                """
                SELECT a.name FROM agents_agent a WHERE a.task_id = %s
                AND EXISTS (SELECT 1 FROM agents_event e WHERE e.agent_id = a.id AND e.kind = 'verification')
                AND NOT EXISTS (SELECT 1 FROM agents_event e WHERE e.agent_id = a.id AND e.kind = 'verdict')
                """,
                swarm.task_id,
            )
        ]

    # the lazy agents submit at their first step: kill the worker while the sandbox verifies a submission
    swarm.wait_for("a submission being verified", lambda: bool(being_verified()), 60, poll=0.05)
    swarm.kill_worker(first)
    cut_short = being_verified()
    _log(f"at the kill, being verified: {cut_short}")
    assert cut_short, "the kill did not land during a verification"

    swarm.start_worker()
    swarm.wait_until_reviewable()

    _assert_each_agent_did_its_work_exactly_once(swarm)
