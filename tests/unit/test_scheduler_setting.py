"""SWARM_SCHEDULER: the scheduling backend an operator chooses, and the clear refusals of a wrong choice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.test import override_settings

from swarm_web.checks import check_scheduler

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED = "agents.scheduling.embedded.EmbeddedScheduler"
CELERY = "agents.scheduling.celery.CeleryScheduler"


def settings_with(**env: str) -> subprocess.CompletedProcess:
    """Load the app's settings module in a fresh interpreter with these variables (and none of the tests')."""
    base = {k: v for k, v in os.environ.items() if k not in {"SWARM_SCHEDULER", "SWARM_EXECUTOR", "REDIS_URL"}}
    code = "import swarm_web.settings as s; print(s.SWARM_SCHEDULER)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def test_the_scheduler_follows_redis_url_unless_one_is_named():
    assert settings_with().stdout.strip() == EMBEDDED
    assert settings_with(REDIS_URL="redis://127.0.0.1:6379/0").stdout.strip() == CELERY
    named = settings_with(REDIS_URL="redis://127.0.0.1:6379/0", SWARM_SCHEDULER=EMBEDDED)
    assert named.stdout.strip() == EMBEDDED


def test_a_leftover_swarm_executor_is_refused_with_the_new_name():
    done = settings_with(SWARM_EXECUTOR="inprocess")
    assert done.returncode != 0
    assert "SWARM_EXECUTOR is gone: set SWARM_SCHEDULER" in done.stderr


def test_the_celery_scheduler_without_a_broker_is_refused():
    done = settings_with(SWARM_SCHEDULER=CELERY)
    assert done.returncode != 0
    assert "needs REDIS_URL" in done.stderr


def test_a_scheduler_that_is_not_a_dotted_path_is_refused():
    done = settings_with(SWARM_SCHEDULER="embedded")
    assert done.returncode != 0
    assert "dotted path of a scheduler class" in done.stderr


def test_a_scheduler_name_that_does_not_import_fails_the_system_checks():
    with override_settings(SWARM_SCHEDULER="agents.scheduling.embeded.EmbeddedScheduler"):
        assert [e.id for e in check_scheduler()] == ["swarm.E020"]
    with override_settings(SWARM_SCHEDULER="agents.models.Agent"):
        assert [e.id for e in check_scheduler()] == ["swarm.E021"]
    with override_settings(SWARM_SCHEDULER=EMBEDDED):
        assert check_scheduler() == []
