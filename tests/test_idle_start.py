"""An idle Swarm stays small: the web process loads the step function, and litellm with it (~190 MB and seconds to
import), only when it has steps to run. Started with nothing running it leaves it out; started with launched agents
it loads it before it serves (they resume at once); the first launch of an idle server loads it in the background."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.own_sqlite

# the web process as daphne imports it (embedded: it runs the steps), then, with "launch", the first launch
SERVE = """
import os, sys, time
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "swarm_web.settings"
import daphne.server  # noqa: F401 (served by daphne)
import swarm_web.asgi  # noqa: F401
print("at start:", "litellm" in sys.modules)
if sys.argv[1:] == ["launch"]:
    from agents import services
    from agents.models import TaskSpec
    services.launch_task(TaskSpec.objects.order_by("id").first())
    deadline = time.monotonic() + 120
    while "litellm" not in sys.modules and time.monotonic() < deadline:
        time.sleep(0.1)
    print("after the launch:", "litellm" in sys.modules)
"""


def _run(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.timeout(600)
def test_an_idle_web_process_leaves_litellm_out_until_agents_run(tmp_path):
    keep = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env = {**keep, "SWARM_DATA_DIR": str(tmp_path), "SWARM_SCHEDULER": "agents.scheduling.embedded.EmbeddedScheduler"}
    _run(env, "manage.py", "migrate", "--noinput", "-v0")
    _run(env, "manage.py", "seed_demo")

    out = _run(env, "-c", SERVE, "launch")
    assert "at start: False" in out  # nothing to run: small
    assert "after the launch: True" in out  # the launch's steps follow: loaded meanwhile

    # that launch left agents preparing or running: the next start loads the step before it serves
    assert "at start: True" in _run(env, "-c", SERVE)
