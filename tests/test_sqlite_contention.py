"""RELIABILITY test 5, short version: several processes append to one agent's log in the embedded SQLite
database at once. IMMEDIATE transactions, WAL and the busy timeout give 0 "database is locked" errors and a
gapless, duplicate-free sequence; the same load with Django's default (DEFERRED) transactions is the control."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WRITERS = 6
EVENTS = 60

WRITER = """
import os, sys, django
os.environ["DJANGO_SETTINGS_MODULE"] = "swarm_web.settings"
django.setup()
from django.conf import settings
from django.db import OperationalError, connection
if os.environ.get("CONTROL") == "1":  # Django's default: a reader upgraded to a writer fails at once
    connection.settings_dict["OPTIONS"] = {"timeout": 0.05}
    connection.close()
from agents import services
from agents.models import Agent
agent = Agent.objects.order_by("id").first()
locked = 0
for i in range(int(sys.argv[1])):
    try:
        services.record_event(agent.pk, "status", {"status": "running", "reason": f"writer {os.getpid()} #{i}"})
    except OperationalError as exc:
        if "locked" not in str(exc):
            raise
        locked += 1
print(locked)
"""


def _env(data_dir: Path, **extra) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    return {
        **keep,
        "SWARM_DATA_DIR": str(data_dir),
        "SWARM_SCHEDULER": "agents.scheduling.manual.ManualScheduler",
        **extra,
    }


def _hammer(data_dir: Path, control: bool) -> tuple[int, list[int]]:
    """(locked errors, the seqs the writers added)."""
    env = _env(data_dir, CONTROL="1" if control else "0")
    before = len(_seqs(env))
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(EVENTS)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(WRITERS)
    ]
    locked = sum(int(w.communicate(timeout=240)[0].strip().splitlines()[-1]) for w in writers)
    return locked, _seqs(env)[before:]


def _seqs(env: dict[str, str]) -> list[int]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, django; os.environ['DJANGO_SETTINGS_MODULE']='swarm_web.settings'; django.setup();"
            "from agents.models import Agent, Event; a=Agent.objects.order_by('id').first();"
            "print(','.join(str(s) for s in Event.objects.filter(agent=a).order_by('seq').values_list('seq', flat=True)))",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return [int(s) for s in out.stdout.strip().split(",") if s]


@pytest.mark.own_sqlite
@pytest.mark.timeout(600)
def test_concurrent_writers_never_hit_database_is_locked_and_seqs_stay_gapless(tmp_path):
    env = _env(tmp_path / "swarm")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([sys.executable, "manage.py", "seed_demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    launch = (
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE']='swarm_web.settings'; django.setup();"
        "from agents import services; from agents.models import TaskSpec;"
        "services.launch_task(TaskSpec.objects.order_by('id').first())"
    )
    subprocess.run([sys.executable, "-c", launch], cwd=ROOT, env=env, check=True, capture_output=True)
    # the control starts from a copy of the same launched database (SQLite's backup: a consistent copy)
    (tmp_path / "control").mkdir()
    with closing(sqlite3.connect(tmp_path / "swarm" / "swarm.sqlite3")) as source:
        with closing(sqlite3.connect(tmp_path / "control" / "swarm.sqlite3")) as copy:
            source.backup(copy)

    locked, seqs = _hammer(tmp_path / "swarm", control=False)
    assert locked == 0
    assert len(seqs) == WRITERS * EVENTS
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # gapless, no duplicate

    # control: without the busy timeout and IMMEDIATE transactions the same load fails
    control_locked, control_seqs = _hammer(tmp_path / "control", control=True)
    assert control_locked > 0
    assert len(control_seqs) == WRITERS * EVENTS - control_locked
