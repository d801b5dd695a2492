"""`make soak`: the long versions of the fault tests, against real Celery workers, Redis and PostgreSQL.

    python -m benchmarks.soak                    # every phase, a few minutes
    SWARM_SOAK_SCALE=5 python -m benchmarks.soak # five times the runs, kills, messages and inputs
    python -m benchmarks.soak messages           # one phase (kills, messages, fuzz, redis)

Phases:
- kills, messages: Celery workers SIGKILLed at random mid-run, and stopped with SIGTERM while messages arrive;
  no step lost or done twice, every message's receipts in order (benchmarks/worker_faults.py).
- fuzz: random and hostile bodies posted to every form and API route of the URLconf as a logged-in team member.
- redis: a fleet on a Redis of the phase's own, restarted without persistence, flushed, then down for 30 s; every
  agent must move on within 60 s of Redis's return and finish, pages must answer 200 meanwhile, and three sockets
  must get every event within 10 s of Redis's return, with no gap (tests/redis_faults.py).
- replay, receipts, caps: websockets against real daphne (benchmarks/live_replay.py, live_receipts.py, live_caps.py).
- exhaustion: RELIABILITY 18 at full size in the sandbox, beside a second agent's test (benchmarks/exhaustion.py).

Prints one table; exits 1 if anything was lost, duplicated, out of order, or answered with a 500.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import exhaustion, live_caps, live_receipts, live_replay, worker_faults  # noqa: E402
from tests.live_server import flush_redis_db, fresh_postgres_database, logger  # noqa: E402

REDIS_DB = 9
SCALE = max(1, int(os.environ.get("SWARM_SOAK_SCALE", "1")))
SEED = int(os.environ.get("SWARM_SOAK_SEED", "7"))


@dataclass
class Tally:
    phase: str
    faults: int = 0
    runs: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    inputs: int = 0
    errors_500: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    failures: int = 0  # a bound missed (e.g. recovery too slow): said in the notes

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.out_of_order or self.errors_500 or self.failures)


_log = logger("soak")


def phase_fuzz(data_dir: Path) -> Tally:
    from benchmarks.fuzz import fuzz_every_route

    tally = Tally("input fuzz")
    tried, errors, notes = fuzz_every_route(random.Random(SEED + 2), 400 * SCALE)
    tally.inputs, tally.errors_500, tally.notes = tried, errors, notes
    return tally


def phase_redis(data_dir: Path) -> Tally:
    """RELIABILITY 3 on a redis-server of the phase's own: restarted without persistence, flushed, down for 30 s."""
    from tests.redis_faults import Deployment, run_fault

    tally = Tally("redis faults")
    with Deployment(data_dir / "redis-faults") as deployment:
        for fault, down in (("restart", 2), ("flush", 0), ("outage", 30)):
            result = run_fault(deployment, fault, agents=8 * SCALE, down=down)
            tally.faults += 1
            tally.runs += result.finished
            tally.lost += result.lost + result.agents - result.finished
            tally.duplicated += result.duplicated
            tally.inputs += result.pages
            tally.errors_500 += sum(" answered 5" in error for error in result.page_errors)
            resumed = "never" if result.resumed_in is None else f"{result.resumed_in:.0f} s"
            tally.notes.append(
                f"{fault}: Redis down {result.down_seconds:.0f} s, {result.queued_at_fault} steps queued in it, "
                f"running agents moved on {resumed} after its return, {result.socket_events} events on 3 sockets"
            )
            tally.notes += [f"{fault}: {note}" for note in result.page_errors + result.socket_late + result.notes]
            tally.failures += not result.ok
    return tally


PHASES = {"fuzz": phase_fuzz, "redis": phase_redis}
PHASES.update(
    kills=lambda data_dir: worker_faults.phase_kills(data_dir, Tally("worker kills")),
    messages=lambda data_dir: worker_faults.phase_messages(data_dir, Tally("message receipts")),
    replay=lambda data_dir: live_replay.phase(data_dir, Tally("websocket replay")),
    receipts=lambda data_dir: live_receipts.phase(data_dir, Tally("receipts live")),
    caps=lambda data_dir: live_caps.phase(data_dir, Tally("per-user caps")),
    exhaustion=lambda data_dir: exhaustion.phase(data_dir, Tally("resource exhaustion")),
)


def _setup(stack: ExitStack) -> Path:
    data_dir = Path(tempfile.mkdtemp(prefix="swarm-soak-"))
    redis_url = flush_redis_db(REDIS_DB)
    stack.callback(flush_redis_db, REDIS_DB)
    database_url = stack.enter_context(fresh_postgres_database("swarm_soak"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="swarm_web.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SWARM_SCHEDULER="agents.scheduling.celery.CeleryScheduler",
        SWARM_DATA_DIR=str(data_dir),
        SWARM_STEP_DELAY="0.3",
        SWARM_LEASE_SECONDS="10",
        SWARM_SWEEP_SECONDS="1",
        SWARM_STEP_OVERDUE_SECONDS="4",
        SWARM_BROKER_VISIBILITY_SECONDS="15",
        SWARM_POST_RATE="0",  # the fuzz's inputs all reach the views; the caps phase sets its own limits
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return data_dir


def print_table(tallies: list[Tally]) -> None:
    head = ["phase", "faults injected", "runs completed", "events lost", "duplicated", "out of order"]
    head += ["inputs tried", "inputs -> 500", "seconds"]
    rows = [
        [t.phase, t.faults, t.runs, t.lost, t.duplicated, t.out_of_order, t.inputs, t.errors_500, f"{t.seconds:.0f}"]
        for t in tallies
    ]
    total = ["total", *(sum(r[i] for r in rows) for i in range(1, 8)), f"{sum(t.seconds for t in tallies):.0f}"]
    widths = [max(len(str(r[i])) for r in [head, *rows, total]) for i in range(len(head))]

    def line(row) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in enumerate(cells))

    print()
    print(line(head))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    print(line(total))
    for t in tallies:
        for note in t.notes[:20]:
            print(f"  {t.phase}: {note}")


def main(argv: list[str]) -> int:
    names = argv or list(PHASES)
    unknown = [n for n in names if n not in PHASES]
    if unknown:
        print(f"unknown phase(s) {unknown}; choose from {list(PHASES)}", file=sys.stderr)
        return 2
    tallies = []
    with ExitStack() as stack:
        data_dir = _setup(stack)
        _log(f"scale {SCALE}, seed {SEED}, data in {data_dir}")
        for name in names:
            started = time.monotonic()
            _log(f"phase {name}")
            tally = PHASES[name](data_dir)
            tally.seconds = time.monotonic() - started
            tallies.append(tally)
        from django.db import connections

        connections.close_all()  # the database is dropped on the way out
    print_table(tallies)
    print(json.dumps({"ok": all(t.ok for t in tallies)}))
    return 0 if all(t.ok for t in tallies) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
