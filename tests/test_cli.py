"""The `swarm` command as a CI job runs it: the real executable (.venv/bin/swarm, the console entry point `make deps`
installs), as a subprocess, against the app started as a person starts it, with the simulator. A task file goes to an
approved verdict (exit 0); a person's rejection ends the wait with 1 (and the follow of its agent), a wait cut short
with 3, a stopped agent's follow with 2, a refused file with 2, a wrong command line with 64. `swarm follow` shows a
running agent live over the server's websocket (through a network that drops it once), and polls the API when a proxy
will not pass websockets, when the socket cannot be reached, or when HTTP_PROXY is set; a wrong or revoked token opens
no socket, and a browser's cookie socket from another site still opens none. Verdicts are listed page by page or all
at once. The skill library goes out as a zip, is deleted and comes back the same."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from tests.cli_network import (
    SWARM,
    api,
    forwarding,
    popen,
    run_swarm,
    socket_refusals,
    swarm_env,
    through_a_proxy_without_websockets,
    when_the_socket_cannot_be_reached,
)
from tests.live_server import ROOT
from tests.ws_client import Relay

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


def test_the_installed_command_runs_on_its_own(tmp_path):
    """`make deps` installed a console script, not a link into the checkout: it runs from anywhere, without help."""
    assert SWARM.is_file() and not SWARM.is_symlink(), f"{SWARM}: run `make deps`"
    assert "from swarm_cli.main import main" in SWARM.read_text()
    env = {"PATH": os.environ["PATH"], "SWARM_TOKEN": "x"}
    shown = subprocess.run([str(SWARM), "follow", "--help"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert shown.returncode == 0 and "usage: swarm follow" in shown.stdout, shown.stderr
    env["PYTHONPATH"] = str(ROOT)  # this checkout's, from here on
    shown = subprocess.run([str(SWARM), "follow", "--help"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert "64 a usage error" in shown.stdout and "awaiting\nreview or paused" in shown.stdout
    wrong = subprocess.run([str(SWARM), "follow", "nobody", "1"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert wrong.returncode == 64 and "invalid choice: 'nobody'" in wrong.stderr  # not 2, which means "failed"


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
    api(app, token, "POST", "repos", {"name": "inflection", "path": str(roots / "inflection")})
    instance = str(SWE / "jpvanhal__inflection-1969b3a.json")
    imported = run_swarm(
        app, token, "swebench", "import", instance, "--roster", "2 x sim-diligent", "--judge", "judge-strict"
    )
    assert imported.returncode == 0, imported.stderr
    assert "created: SWE-bench jpvanhal__inflection-1969b3a" in imported.stdout

    # the whole run in one command: created, launched, followed; auto-approved, so the exit code is 0
    done = run_swarm(app, token, "run", _file(tmp_path, "Approved by the panel", True), "--wait", "--interval", "0.3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Ada" in done.stdout and "approved" in done.stdout.splitlines()[-1]
    task = _task_id(done.stdout)
    listed = run_swarm(app, token, "verdicts", "list", "--status", "all", "--task", str(task), "--json")
    verdicts = json.loads(listed.stdout)["verdicts"]
    assert [v["status"] for v in verdicts] == ["approved"]
    followed = run_swarm(app, token, "follow", "agent", str(verdicts[0]["agent"]["id"]), "--timeout", "30")
    assert followed.returncode == 0 and "submit" in followed.stdout and "accepted" in followed.stdout
    assert followed.stderr == ""  # over the socket: no word of polling
    _seqs_are_the_logs(app, token, verdicts[0]["agent"]["id"], followed.stdout)
    through_a_proxy_without_websockets(app, token, verdicts[0]["agent"]["id"], followed.stdout)
    when_the_socket_cannot_be_reached(app, token, verdicts[0]["agent"]["id"], followed.stdout)
    socket_refusals(app, token, verdicts[0]["agent"]["id"])
    exported = run_swarm(app, token, "task", "export", str(task))
    assert exported.returncode == 0 and "title: Approved by the panel" in exported.stdout

    # a person decides: the waiting run ends with 1 when the submission is rejected
    env = swarm_env(app.base_url, token)
    argv = [str(SWARM), "run", _file(tmp_path, "Rejected by a person", False), "--wait", "--interval", "0.2"]
    waiting, following, relay = popen(argv, env), None, None
    try:
        started = _task_id(waiting.stdout.readline().decode())
        assert waiting.stdout.readline().startswith(b"launched 1 agents")
        agent_id = api(app, token, "GET", f"tasks/{started}")["agents"][0]["id"]
        following, relay, before = _follow_a_running_agent(app, token, agent_id)
        pending, deadline = [], time.monotonic() + 240
        while not pending and time.monotonic() < deadline and waiting.poll() is None:
            time.sleep(0.5)
            answer = run_swarm(app, token, "verdicts", "list", "--json")
            pending = [v for v in json.loads(answer.stdout)["verdicts"] if v["task"]["title"] == "Rejected by a person"]
        assert pending, "no verdict to decide"
        # while it waits for a person, a shorter wait times out with 3
        cut = run_swarm(app, token, "follow", "task", str(pending[0]["task"]["id"]), "--timeout", "1")
        assert cut.returncode == 3 and "timed out" in cut.stdout
        # its agent's too, here where its socket cannot be reached: after 3 tries, it says so once and polls (20 s:
        # the tries, their 1.5 s of backoff and the polls, however loaded the machine, all before it times out)
        with forwarding(app.base_url) as url:
            cut = run_swarm(
                app, token, "follow", "agent", str(agent_id), "--timeout", "20", "--interval", "0.2", url=url
            )
        assert cut.returncode == 3 and "timed out" in cut.stdout.splitlines()[-1], cut.stdout + cut.stderr
        assert re.search(r"Ada\s+awaiting review\s", cut.stdout), cut.stdout  # polled: its state all the same
        assert cut.stderr == (
            "swarm: could not reach the live socket (the connection ended in the handshake); polling the API every "
            "0.2 s instead\n"
        )
        rejected = run_swarm(app, token, "verdict", "reject", str(pending[0]["id"]), "--comment", "Not this way.")
        assert rejected.returncode == 0 and "rejected" in rejected.stdout
        out, err = (part.decode() for part in waiting.communicate(timeout=60))
        _rejected_while_followed(app, token, agent_id, following, relay, before)
    finally:
        if relay is not None:
            relay.close()
        for process in filter(None, (waiting, following)):
            if process.poll() is None:
                process.kill()
    assert waiting.returncode == 1, out + err
    assert "rejected" in out.splitlines()[-1] and err == ""
    assert re.search(r"Ada\s+running\s", out) and re.search(r"Ada\s+awaiting review\s", out)  # live lines
    _verdict_pages(app, token)

    # a stopped agent's follow ends with 2; a message may resume it (--then), a plain one then lands
    api(app, token, "POST", f"agents/{agent_id}/stop")
    ended = run_swarm(app, token, "follow", "agent", str(agent_id), "--timeout", "30")
    assert ended.returncode == 2 and ended.stdout.splitlines()[-1] == f"agent {agent_id} Ada: failed (stopped)"
    plain = run_swarm(app, token, "message", str(agent_id), "Go on.")
    assert plain.returncode == 2 and "it takes no more messages" in plain.stderr, plain.stdout + plain.stderr
    resumed = run_swarm(app, token, "message", str(agent_id), "Go on, keep mean() alone.", "--then", "resume")
    assert resumed.returncode == 0 and "reads it at its next step" in resumed.stdout, resumed.stdout + resumed.stderr
    assert api(app, token, "GET", f"agents/{agent_id}")["status"] in {"queued", "preparing", "running"}
    told = run_swarm(app, token, "message", str(agent_id), "Keep the fix to mean() alone.")
    assert told.returncode == 0 and told.stdout.startswith("message "), told.stdout + told.stderr

    # a file the server refuses: its sentence on stderr, exit 2, nothing made
    bad = tmp_path / "bad.yaml"
    bad.write_text(TASK_FILE.format(title="Nowhere", auto="false").replace("mathutil", "nowhere"))
    refused = run_swarm(app, token, "task", "create", str(bad))
    assert refused.returncode == 2
    assert "repository is not a repository of your team" in refused.stderr and "(repository)" in refused.stderr
    assert token not in refused.stderr + refused.stdout


def _seqs_are_the_logs(app, token: str, agent_id: int, output: str, on_status: bool = True) -> None:
    """`swarm follow agent` printed every event of the agent's log up to its end, once each and in order."""
    shown = [int(seq) for seq in re.findall(r"^\[(\d+)\] ", output, re.MULTILINE)]
    logged = api(app, token, "GET", f"agents/{agent_id}/events")["events"]
    assert shown and shown == [e["seq"] for e in logged if e["seq"] <= shown[-1]], output
    if on_status:
        assert logged[len(shown) - 1]["kind"] == "status"  # it stopped at the status that ended the follow


def _follow_a_running_agent(app, token: str, agent_id: int) -> tuple[subprocess.Popen, Relay, list[bytes]]:
    """Followed from its launch, through a network that drops the socket once its first events came: started, and
    left running (it follows until a person decides; _rejected_while_followed reads the rest)."""
    relay = Relay(app.port)
    argv = [str(SWARM), "follow", "agent", str(agent_id), "--timeout", "240"]
    following = popen(argv, swarm_env(f"http://127.0.0.1:{relay.port}", token))
    before: list[bytes] = []
    while sum(seen.startswith(b"[") for seen in before) < 3 and (line := following.stdout.readline()):
        before.append(line)
    relay.cut()
    return following, relay, before


def _rejected_while_followed(app, token, agent_id: int, following, relay, before: list[bytes]) -> None:
    """Its events and state as they changed, through its wait for a review, until a person rejected its submission
    (1). The dropped socket reconnected and went on, with no event lost or shown twice."""
    out, err = (part.decode() for part in following.communicate(timeout=120))
    out = b"".join(before).decode() + out
    assert following.returncode == 1 and err == "", out + err
    assert relay.sockets >= 2, "the cut socket was not opened again"
    assert re.search(r"Ada\s+awaiting review\s", out), out  # it went on through the wait
    assert re.fullmatch(rf"agent {agent_id} Ada: rejected \((queued|preparing|running)\)", out.splitlines()[-1]), out
    # live: it saw the agent at work (a finished run's replay shows only the state it ended in) and its steps go up
    assert re.search(r"Ada\s+(queued|preparing|running)\s", out), out
    steps = [int(n) for n in re.findall(r"\sstep (\d+)\s", out)]
    assert len(steps) > 2 and steps == sorted(steps), out
    _seqs_are_the_logs(app, token, agent_id, out, on_status=False)


def _verdict_pages(app, token: str) -> None:
    """Two decided verdicts, one a page: --page shows one page, --all every page in order."""
    everything = api(app, token, "GET", "verdicts?status=decided&per_page=100")["verdicts"]
    assert len(everything) == 2
    one = ("verdicts", "list", "--status", "decided", "--per-page", "1")
    second = run_swarm(app, token, *one, "--page", "2", "--json")
    assert [v["id"] for v in json.loads(second.stdout)["verdicts"]] == [everything[1]["id"]], second.stderr
    both = run_swarm(app, token, *one, "--all")
    assert both.returncode == 0 and both.stdout.splitlines()[-1] == "2 verdicts", both.stdout + both.stderr
    shown = [int(line.split()[0]) for line in both.stdout.splitlines()[:-1]]
    assert shown == [v["id"] for v in everything]


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
        made = run_swarm(app, token, "skills", "import", str(folder))
        assert made.returncode == 0 and "imported 1 skill: check-types" in made.stdout, made.stdout + made.stderr
    before = run_swarm(app, token, "skills", "list")
    assert before.returncode == 0 and "check-types" in before.stdout and " v2 " in before.stdout, before.stderr
    assert "3 skills" in before.stdout  # the demo's two and this one

    exported = run_swarm(app, token, "skills", "export", "-o", str(where / "all.zip"))
    assert exported.returncode == 0 and "3 skills" in exported.stdout, exported.stderr
    first = (where / "all.zip").read_bytes()
    for skill in api(app, token, "GET", "skills")["skills"]:
        api(app, token, "DELETE", f"skills/{skill['id']}")
    assert run_swarm(app, token, "skills", "list").stdout.strip() == "0 skills"
    back = run_swarm(app, token, "skills", "import", str(where / "all.zip"))
    assert back.returncode == 0 and "imported 3 skills" in back.stdout, back.stdout + back.stderr
    assert run_swarm(app, token, "skills", "list").stdout == before.stdout
    # names, every version and every file (bytes too) as they were: the export of the library is the same zip
    again = run_swarm(app, token, "skills", "export", "-o", str(where / "again.zip"))
    assert again.returncode == 0 and (where / "again.zip").read_bytes() == first
    one = run_swarm(app, token, "skills", "export", "check-types", cwd=where)
    assert one.returncode == 0 and "wrote check-types.zip" in one.stdout and "1 skill)" in one.stdout, one.stderr
    with zipfile.ZipFile(where / "check-types.zip") as zf:
        assert zf.read("check-types/assets/table.bin") == bytes(range(256))
        assert "Then fix the first error only." in zf.read("check-types/SKILL.md").decode()

    # refusals: the server's sentence and field on stderr, exit 2, nothing stored
    with zipfile.ZipFile(where / "bad.zip", "w") as zf:
        zf.writestr("Bad_Name/SKILL.md", SKILL_MD.format(more="").replace("check-types", "Bad_Name"))
    refused = run_swarm(app, token, "skills", "import", str(where / "bad.zip"))
    assert refused.returncode == 2 and refused.stderr.startswith("swarm: name "), refused.stderr
    assert "lowercase" in refused.stderr and "(name)" in refused.stderr
    (folder / "scripts" / "linked.sh").symlink_to("/etc/passwd")
    linked = run_swarm(app, token, "skills", "import", str(folder))
    assert linked.returncode == 2 and "scripts/linked.sh is a symbolic link" in linked.stderr
    assert run_swarm(app, token, "skills", "list").stdout == before.stdout
