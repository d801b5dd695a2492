"""The fleet benchmark's smallest case, run as a person runs it (`manage.py swarm_bench`), so it cannot rot unseen:
4 agents whose model answers in 0.2 s, through the outside server and through the simulator, a 5 s window. The
figures are only checked for being there and sane; how good they are is the benchmark's business, not a test's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.live_server import ROOT

pytestmark = [pytest.mark.own_sqlite, pytest.mark.timeout(600)]


@pytest.mark.parametrize("model", ["server", "sim"])
def test_the_smallest_fleet_prints_one_row_of_sane_figures(model, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SWARM_SCHEDULER"}}
    # this process only drives the app's processes, which get data dirs of their own
    env.update(DJANGO_SETTINGS_MODULE="swarm_web.settings", SWARM_DATA_DIR=str(tmp_path))
    argv = ["manage.py", "swarm_bench", "--agents", "4", "--latency", "0.2", "--window", "5", "--watchers", "2"]
    argv += ["--model", model, "--bare-calls", "50"]
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=560)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    lines = done.stdout.splitlines()
    assert any(line.split()[:3] == ["embedded", model, "4"] for line in lines), done.stdout
    out = json.loads(next(line for line in lines if line.startswith("fleet-json "))[len("fleet-json ") :])

    assert out["calls"] > 0 and out["calls_per_s"] > 0, out
    assert out["never_called"] == 0, out
    assert (out["lost"], out["duplicated"]) == (0, 0), out
    assert out["detail_events"] > 0 and out["overview_frames"] > 0, out
    for name in ("wait_p50", "wait_p99", "stale_p99", "detail_p50", "detail_p99"):
        assert out[name] is not None and -1 < out[name] < 60, (name, out)
    assert out["bare"]["call_ms"] > 0 and out["bare"]["daphne_mb"] > 0, out
    assert out["ratios"]["step_cpu_ms"] > 0 and out["ratios"]["step_x"] > 0, out
    assert out["idle_mb"]["web"] > out["bare"]["daphne_mb"] / 2, out
