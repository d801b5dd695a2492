"""SQLite writers in one process: how long a write transaction takes from its start to its commit when a dozen threads
write at once (the embedded mode's step and continuation threads), with Django's SQLite backend (SQLite's busy
handler polls the write lock) and with Swarm's (swarm_web/sqlite: the process's writers queue on a lock).

    python -m benchmarks.sqlite_writers       # or `python -m benchmarks sqlite`

Each thread loops: a transaction of an insert, 1 ms of CPU and an update, then 3 ms of CPU and an 80 ms pause. Each
backend runs in a fresh interpreter on a fresh database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINES = {"django": "django.db.backends.sqlite3", "swarm": "swarm_web.sqlite"}
THREADS, SECONDS = 12, 15


def _spin(ms: float) -> None:
    until = time.thread_time() + ms / 1000
    while time.thread_time() < until:
        pass


def _measure(engine: str) -> dict:
    import django
    from django.conf import settings

    settings.DATABASES["default"]["ENGINE"] = engine
    django.setup()
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection, transaction

    call_command("migrate", verbosity=0)
    took: list[float] = []
    stop = threading.Event()

    def writer(i: int) -> None:
        j = 0
        while not stop.is_set():
            started = time.monotonic()
            with transaction.atomic():
                Group.objects.create(name=f"g{i}-{j}")
                _spin(1)
                Group.objects.filter(name=f"g{i}-{j}").update(name=f"h{i}-{j}")
            took.append(time.monotonic() - started)
            _spin(3)
            time.sleep(0.08)
            j += 1
        connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    time.sleep(SECONDS)
    stop.set()
    for thread in threads:
        thread.join()
    took.sort()
    ms = {f"p{q}": round(took[min(len(took) - 1, int(q / 100 * len(took)))] * 1000, 1) for q in (50, 90, 99)}
    return {"transactions_per_s": round(len(took) / SECONDS), **ms}


def run() -> None:
    print(f"\n== sqlite writers: {THREADS} threads of one process, transaction start to commit (ms)")
    for name, engine in ENGINES.items():
        env = {**os.environ, "SWARM_DATA_DIR": tempfile.mkdtemp(prefix="swarm-sqlite-bench-")}
        env.pop("DATABASE_URL", None)
        env["DJANGO_SETTINGS_MODULE"] = "swarm_web.settings"
        argv = [sys.executable, "-m", "benchmarks.sqlite_writers", engine]
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True)
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  {name:<7} {engine:<28} " + "  ".join(f"{k} {v}" for k, v in figures.items()))
    print(f"  (machine load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(_measure(sys.argv[1])), flush=True)
    else:
        run()
