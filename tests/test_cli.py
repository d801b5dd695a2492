"""The `swarm` command as a CI job runs it: the real executable (bin/swarm, which `make deps` links into .venv/bin),
as a subprocess, against the app started as a person starts it, with the simulator. A task file goes to an approved
verdict (exit 0); a person's rejection ends the wait with 1, a wait cut short with 3, a refused file with 2. The skill
library goes out as a zip, is deleted and comes back the same."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import zipfile
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


def _swarm(app, token: str, *args: str, timeout: float = 300, cwd=None) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "SWARM_URL": app.base_url, "SWARM_TOKEN": token}
    return subprocess.run([str(SWARM), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def _api(app, token: str, method: str, path: str, data: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{app.base_url}/api/{path}",
        data=json.dumps(data).encode() if data is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read())


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
    _skills_round_trip(app, token, tmp_path / "skills")

    # SWE-bench instances onto a repository the team added: one task each
    _api(app, token, "POST", "repos", {"name": "inflection", "path": str(roots / "inflection")})
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


SKILL_MD = """\
---
name: check-types
description: Run the type checker before submitting; use it when a change touches a signature.
---
# Check types
Run `sh scripts/check.sh` and read every error before you submit.{more}
"""


def _skills_round_trip(app, token: str, where: Path) -> None:
    """A folder in, a second version, the whole library out, deleted, back in: the same library; then refusals."""
    folder = where / "check-types"
    (folder / "scripts").mkdir(parents=True)
    (folder / "assets").mkdir()
    (folder / "scripts" / "check.sh").write_text("python -m mypy .\n")
    (folder / "assets" / "table.bin").write_bytes(bytes(range(256)))
    for more in ("", "\nThen fix the first error only."):
        (folder / "SKILL.md").write_text(SKILL_MD.format(more=more))
        made = _swarm(app, token, "skills", "import", str(folder))
        assert made.returncode == 0 and "imported 1 skill: check-types" in made.stdout, made.stdout + made.stderr
    before = _swarm(app, token, "skills", "list")
    assert before.returncode == 0 and "check-types" in before.stdout and " v2 " in before.stdout, before.stderr
    assert "3 skills" in before.stdout  # the demo's two and this one

    exported = _swarm(app, token, "skills", "export", "-o", str(where / "all.zip"))
    assert exported.returncode == 0 and "3 skills" in exported.stdout, exported.stderr
    first = (where / "all.zip").read_bytes()
    for skill in _api(app, token, "GET", "skills")["skills"]:
        _api(app, token, "DELETE", f"skills/{skill['id']}")
    assert _swarm(app, token, "skills", "list").stdout.strip() == "0 skills"
    back = _swarm(app, token, "skills", "import", str(where / "all.zip"))
    assert back.returncode == 0 and "imported 3 skills" in back.stdout, back.stdout + back.stderr
    assert _swarm(app, token, "skills", "list").stdout == before.stdout
    # names, every version and every file (bytes too) as they were: the export of the library is the same zip
    again = _swarm(app, token, "skills", "export", "-o", str(where / "again.zip"))
    assert again.returncode == 0 and (where / "again.zip").read_bytes() == first
    one = _swarm(app, token, "skills", "export", "check-types", cwd=where)
    assert one.returncode == 0 and "wrote check-types.zip" in one.stdout and "1 skill)" in one.stdout, one.stderr
    with zipfile.ZipFile(where / "check-types.zip") as zf:
        assert zf.read("check-types/assets/table.bin") == bytes(range(256))
        assert "Then fix the first error only." in zf.read("check-types/SKILL.md").decode()

    # refusals: the server's sentence and field on stderr, exit 2, nothing stored
    with zipfile.ZipFile(where / "bad.zip", "w") as zf:
        zf.writestr("Bad_Name/SKILL.md", SKILL_MD.format(more="").replace("check-types", "Bad_Name"))
    refused = _swarm(app, token, "skills", "import", str(where / "bad.zip"))
    assert refused.returncode == 2 and refused.stderr.startswith("swarm: name "), refused.stderr
    assert "lowercase" in refused.stderr and "(name)" in refused.stderr
    (folder / "scripts" / "linked.sh").symlink_to("/etc/passwd")
    linked = _swarm(app, token, "skills", "import", str(folder))
    assert linked.returncode == 2 and "scripts/linked.sh is a symbolic link" in linked.stderr
    assert _swarm(app, token, "skills", "list").stdout == before.stdout
