"""The `swarm` command as a CI job runs it: the real executable (bin/swarm, which `make deps` links into .venv/bin),
as a subprocess, against the app started as a person starts it, with the simulator. A task file goes to an approved
verdict (exit 0); a person's rejection ends the wait with 1, a wait cut short with 3, a refused file with 2."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.live_server import ROOT

SWARM = ROOT / "bin" / "swarm"
SWE = ROOT / "tests" / "data" / "swebench"
pytestmark = pytest.mark.timeout(600)

TASK_FILE = """\
repository: mathutil
title: {title}
goal: mean([2, 4, 6]) should be 4; find the cause and fix it.
acceptance:
  - mean([2, 4, 6]) == 4
  - The whole test suite passes
verify: python -m pytest -q
roster: [Ada = sim-diligent]
judges: [judge-strict, judge-lenient]
budgets: {{minutes: 10}}
policy: {{auto_approve: {auto}}}
"""


def _swarm(app, token: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "SWARM_URL": app.base_url, "SWARM_TOKEN": token}
    return subprocess.run([str(SWARM), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _file(tmp_path: Path, title: str, auto: bool) -> str:
    path = tmp_path / f"{title.split()[0].lower()}.yaml"
    path.write_text(TASK_FILE.format(title=title, auto="true" if auto else "false"))
    return str(path)


def _task_id(output: str) -> int:
    return int(output.split("task ", 1)[1].split()[0])


def test_a_pipeline_runs_a_task_file_to_an_approved_verdict_and_a_rejected_one(live_app, tmp_path):
    roots = tmp_path / "repos"
    subprocess.run(["git", "clone", "-q", "-b", "master", str(SWE / "inflection.bundle"), str(roots / "inflection")])
    app = live_app(step_delay=0.3, SWARM_REPO_ROOTS=str(roots))
    token = app.manage("api_token", "admin").strip()

    # SWE-bench instances onto a repository the team added: one task each
    added = urllib.request.Request(
        f"{app.base_url}/api/repos",
        data=json.dumps({"name": "inflection", "path": str(roots / "inflection")}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert urllib.request.urlopen(added).status == 201
    instance = str(SWE / "jpvanhal__inflection-1969b3a.json")
    imported = _swarm(
        app, token, "swebench", "import", instance, "--roster", "2 x sim-diligent", "--judge", "judge-strict"
    )
    assert imported.returncode == 0, imported.stderr
    assert "created: SWE-bench jpvanhal__inflection-1969b3a" in imported.stdout

    # the whole run in one command: created, launched, followed; auto-approved, so the exit code is 0
    done = _swarm(app, token, "run", _file(tmp_path, "Approved by the panel", True), "--wait", "--interval", "0.3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Ada" in done.stdout and "approved" in done.stdout.splitlines()[-1]
    task = _task_id(done.stdout)
    listed = _swarm(app, token, "verdicts", "list", "--status", "all", "--task", str(task), "--json")
    verdicts = json.loads(listed.stdout)["verdicts"]
    assert [v["status"] for v in verdicts] == ["approved"]
    followed = _swarm(app, token, "follow", "agent", str(verdicts[0]["agent"]["id"]), "--timeout", "30")
    assert followed.returncode == 0 and "submit" in followed.stdout and "accepted" in followed.stdout
    exported = _swarm(app, token, "task", "export", str(task))
    assert exported.returncode == 0 and "title: Approved by the panel" in exported.stdout

    # a person decides: the waiting run ends with 1 when the submission is rejected
    env = {"PATH": os.environ["PATH"], "SWARM_URL": app.base_url, "SWARM_TOKEN": token}
    argv = [str(SWARM), "run", _file(tmp_path, "Rejected by a person", False), "--wait", "--interval", "0.2"]
    waiting = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pending, deadline = [], time.monotonic() + 240
        while not pending and time.monotonic() < deadline and waiting.poll() is None:
            time.sleep(0.5)
            answer = _swarm(app, token, "verdicts", "list", "--json")
            pending = [v for v in json.loads(answer.stdout)["verdicts"] if v["task"]["title"] == "Rejected by a person"]
        assert pending, "no verdict to decide"
        # while it waits for a person, a shorter wait times out with 3
        cut = _swarm(app, token, "follow", "task", str(pending[0]["task"]["id"]), "--timeout", "1")
        assert cut.returncode == 3 and "timed out" in cut.stdout
        rejected = _swarm(app, token, "verdict", "reject", str(pending[0]["id"]), "--comment", "Not this way.")
        assert rejected.returncode == 0 and "rejected" in rejected.stdout
        out, err = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 1, out + err
    assert "rejected" in out.splitlines()[-1]
    told = _swarm(app, token, "message", str(pending[0]["agent"]["id"]), "Keep the fix to mean() alone.")
    assert told.returncode == 0 and told.stdout.startswith("message "), told.stdout + told.stderr

    # a file the server refuses: its sentence on stderr, exit 2, nothing made
    bad = tmp_path / "bad.yaml"
    bad.write_text(TASK_FILE.format(title="Nowhere", auto="false").replace("mathutil", "nowhere"))
    refused = _swarm(app, token, "task", "create", str(bad))
    assert refused.returncode == 2
    assert "repository is not a repository of your team" in refused.stderr and "(repository)" in refused.stderr
    assert token not in refused.stderr + refused.stdout
