"""`make bench`: benchmarks that print figures. Each runs against a fresh throwaway data dir.

python -m benchmarks            # all
python -m benchmarks guards     # one
python -m benchmarks fleet      # the fleet benchmark alone (SWARM_BENCH_FLEET picks its cases, benchmarks/fleet.py)
python -m benchmarks launch     # launching 300 and 1,000 agents (the app as a person runs it)
python -m benchmarks bulk       # messaging 50 selected agents of 300 from the task page
python -m benchmarks sqlite     # a dozen threads writing to SQLite: Django's backend against Swarm's
"""

from __future__ import annotations

import os
import sys
import tempfile
import time


def _setup() -> None:
    os.environ["SWARM_DATA_DIR"] = tempfile.mkdtemp(prefix="swarm-bench-")
    os.environ["SWARM_SCHEDULER"] = "agents.scheduling.manual.ManualScheduler"
    os.environ["SWARM_STEP_DELAY"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swarm_web.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main(argv: list[str]) -> int:
    _setup()
    from benchmarks import bulk, conversation, fleet, guards, judges, launch, sqlite_writers

    wanted = set(argv) or {"guards", "judges", "conversation", "sqlite", "launch", "bulk", "fleet"}
    started = time.monotonic()
    failed = []
    if "guards" in wanted:
        guards.run()
    if "judges" in wanted and judges.run():
        failed.append("judges: a wrong submission was recommended for approval")
    if "conversation" in wanted:
        conversation.run()
    if "sqlite" in wanted:
        sqlite_writers.run()
    if "launch" in wanted:
        launch.run()
    if "bulk" in wanted:
        bulk.run()
    if "fleet" in wanted:
        fleet.bench()
    print(f"\nbenchmarks finished in {time.monotonic() - started:.1f} s")
    for failure in failed:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
