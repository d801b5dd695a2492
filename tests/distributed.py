"""The scale-out harness: a deployment driven only by Celery worker processes on real Redis and PostgreSQL, and what
the demo's simulated agents do in it (tests/test_scale_out.py; benchmarks/soak.py and tests/redis_faults.py check
the same outcomes).

Everything runs as a deployment runs it, in subprocesses with the real settings module (tests/live_server.py's
LiveApp): `manage.py migrate` into a fresh PostgreSQL database, `celery -A swarm_web worker` processes the test starts
and SIGKILLs, and each test's own demo team seeded and launched from `manage.py shell`. Short lease, sweep and
visibility settings make the recovery after a crash take seconds instead of minutes.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.live_server import LiveApp, kill_group, logger, query_rows, worker_argv

REDIS_DB = 7
STEP_DELAY = 0.2
SLOW_STEP_DELAY = 3.0
LEASE_SECONDS = 10  # well above the longest step here (the verify command in the sandbox), below the test's patience
SWEEP_SECONDS = 1
OVERDUE_SECONDS = 4
VERIFY_WAIT_SECONDS = 20
VISIBILITY_SECONDS = 15  # a killed worker's unacked step tasks come back after this (the sweep is often first)
# seconds for the 8 demo agents to submit, crash recovery included: ~36 s on a quiet machine, over 90 s in CI where
# two test workers each run their own servers and sandboxes (a patience, not a speed target: those are benchmarks)
FINISH_WITHIN = 180
VERDICT_WITHIN = 90  # seconds, after the last submission, for every verification to end in a verdict (sweep included;
# they wait their turn on the verify queue, which a loaded 2-core machine drains slowly)

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


say = logger("scale-out")


def scale_out_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The app's settings for a scale-out deployment: its database and broker, and the short recovery windows."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SWARM_LEASE_SECONDS": str(LEASE_SECONDS),
        "SWARM_SWEEP_SECONDS": str(SWEEP_SECONDS),
        "SWARM_STEP_OVERDUE_SECONDS": str(OVERDUE_SECONDS),
        "SWARM_BROKER_VISIBILITY_SECONDS": str(VISIBILITY_SECONDS),
        # a verification queued on a worker that died is queued again by a sweep after this (30 min by default)
        "SWARM_VERIFY_WAIT_SECONDS": str(VERIFY_WAIT_SECONDS),
    }


@dataclass(kw_only=True)
class Swarm(LiveApp):
    """A scale-out deployment (database, Redis db, data dir: `extra_env`), one demo team in it, and the test's
    workers (its `procs`). No web server: the tests read the outcome straight from PostgreSQL."""

    mode: str = "distributed"
    team: str = "Demo team"
    task_id: int = 0
    step_delay: float = STEP_DELAY
    started: float = field(default_factory=time.monotonic)

    @property
    def database_url(self) -> str:
        return self.extra_env["DATABASE_URL"]

    @property
    def redis_url(self) -> str:
        return self.extra_env["REDIS_URL"]

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.1f}s"

    def launch_demo(self) -> dict[str, int]:
        """Seed this test's demo team and launch its task; the agents' first steps wait in Redis for a worker."""
        out = dict(
            line.split("=", 1)
            for line in self.manage("shell", "-c", SEED_AND_LAUNCH.format(team=self.team)).splitlines()
            if line.startswith(("TASK=", "AGENTS="))
        )
        self.task_id = int(out["TASK"])
        agents = json.loads(out["AGENTS"])
        say(f"launched {len(agents)} agents at {self.elapsed()}")
        return agents

    def start_worker(self, pool: str = "threads", env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start a worker (with `env` over the deployment's: its own data dir); it comes up while the test goes on
        (waits notice if it dies)."""
        name = f"worker{len(self.procs) + 1}"
        # its own session: SIGKILL to the group takes the worker and every sandboxed command it started
        proc = self._spawn(f"{self.team}-{name}", worker_argv(f"{name}-{uuid.uuid4().hex[:8]}", pool=pool), env)
        say(f"{name} ({pool} pool, pid {proc.pid}) started at {self.elapsed()}")
        return proc

    def kill_worker(self, proc: subprocess.Popen) -> None:
        kill_group(proc)
        say(f"SIGKILLed worker group {proc.pid} at {self.elapsed()}")

    def stop(self) -> None:
        for _, proc, _ in self.procs:
            if proc.poll() is None:
                kill_group(proc)

    def worker_logs(self) -> str:
        return "\n".join(
            f"----- {name} -----\n{path.read_text(errors='replace')[-15_000:]}" for name, _, path in self.procs
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
            for name, proc, _ in self.procs:
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
        say(f"all agents awaiting review at {self.elapsed()}")
        self.wait_for(
            "a verdict for every submission",
            lambda: all(self.verdicts().values()) and not any(a["leased"] for a in self.agents().values()),
            VERDICT_WITHIN,
            detail=lambda: (
                f"verdict events per agent {self.verdicts()}, verdict rows {self.verdict_rows()}, "
                f"leased {[n for n, a in self.agents().items() if a['leased']]}; "
            ),
        )
        say(f"every submission has its verdict at {self.elapsed()}")
