"""Scale-out without a shared disk (SWARM_WORKER_DISK=local): a web process and two Celery workers whose data dirs
are three different directories. The web process keeps the bare repositories and serves them over git's smart HTTP
with the worker credential; each worker clones into its own disk, builds its agents' worktrees there and pushes their
branches; a worker SIGKILLed mid-run leaves its agents to the other, which rebuilds them from the pushed branches.

The deployment and the demo's expected work are tests/distributed.py's; the outcome is read from PostgreSQL and from
the web process's bare repository.
"""

from __future__ import annotations

import secrets
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.distributed import BUGGY_LINE, EXPECTED, FIXED_LINE, Swarm, say, scale_out_env
from tests.live_server import distributed_services

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(300)]

REDIS_DB = 6


@pytest.fixture
def web(tmp_path_factory):
    """The web process on its data dir, no worker yet; three data dirs in all, none inside another."""
    with distributed_services(REDIS_DB, "swarm_scaleout_local") as services:
        token = secrets.token_hex(24)
        env = {
            **scale_out_env(services["DATABASE_URL"], services["REDIS_URL"]),
            "SWARM_WORKER_DISK": "local",
            "SWARM_WORKER_TOKEN": token,
            "SWARM_WEB_URL": "http://127.0.0.1:1",  # until the web process has its port
        }
        swarm = Swarm(data_dir=tmp_path_factory.mktemp("web-"), extra_env=env)
        try:
            swarm.manage("migrate", "--noinput", "-v0")
            swarm.start_web()
            swarm.extra_env["SWARM_WEB_URL"] = swarm.base_url
            yield swarm
        finally:
            swarm.stop()


# a reviewer approves one submission, as the review page does, on the web process's side (its data dir)
APPROVE = """
from django.contrib.auth import get_user_model
from agents.models import Membership
from judges.models import Verdict
from judges.services import review_verdict
verdict = Verdict.objects.get(agent_id={agent_id})
rita = get_user_model().objects.create_user("rita")
Membership.objects.create(team=verdict.agent.task.team, user=rita, role="reviewer")
print("MERGED=" + review_verdict(verdict, rita, "approve", "fine").merged_commit)
"""


# a task of the demo's with the auto-approve policy and one diligent agent, launched
LAUNCH_AUTO_APPROVED = """
from agents.demo import seed, task_like
from agents.services import launch_task
team, template = seed({team!r})
task = task_like(template, [("Ada", "sim-diligent")], auto_approve=True)
(ada,) = launch_task(task)
print("TASK=" + str(task.pk))
print("AGENT=" + str(ada.pk))
"""


def _worker(swarm: Swarm, disk: Path, name: str) -> subprocess.Popen:
    return swarm.start_worker(env={"SWARM_DATA_DIR": str(disk), "SWARM_WORKER_NAME": name})


def _held_by(swarm: Swarm) -> dict[str, str]:
    return {
        name: holder
        for name, holder in swarm.rows("SELECT name, disk_holder FROM agents_agent WHERE task_id = %s", swarm.task_id)
    }


def _running_its_verify_command(swarm: Swarm, holder: str) -> list[str]:
    """Agents of `holder` inside a step whose model turn asked for the verify command (it runs in the sandbox)."""
    return [
        name
        for (name,) in swarm.rows(
            """
            SELECT a.name FROM agents_agent a WHERE a.task_id = %s AND a.disk_holder = %s
            AND a.lease_expires_at > now()
            AND (SELECT e.payload->>'text' FROM agents_event e WHERE e.agent_id = a.id AND e.kind = 'model_turn'
                 AND e.seq = a.next_seq - 1) LIKE '%%verify command%%'
            """,
            swarm.task_id,
            holder,
        )
    ]


def _git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check, timeout=60)


def _served(swarm: Swarm) -> Path:
    (bare,) = (swarm.data_dir / "served").glob("repo-*.git")
    return bare


def _status(url: str, token: str | None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_two_workers_without_a_shared_disk_finish_the_demo_and_survive_a_kill(web, tmp_path_factory):
    swarm = web
    disks = {"east": tmp_path_factory.mktemp("worker-east-"), "west": tmp_path_factory.mktemp("worker-west-")}
    workers = {name: _worker(swarm, disk, name) for name, disk in disks.items()}
    for process, _, _ in swarm.procs[-2:]:  # both serve the queues before the launch, or the first takes every agent
        swarm.wait_for_log(process, "ready.", timeout=90)
    agents = swarm.launch_demo()

    # the first worker to have one of its agents inside the sandbox is killed there, mid-run
    cut_short: list[str] = []

    def one_in_the_sandbox() -> bool:
        for name in workers:
            cut_short[:] = _running_its_verify_command(swarm, name)
            if cut_short:
                return True
        return False

    swarm.wait_for("an agent running its verify command on a worker's own disk", one_in_the_sandbox, 90, poll=0.05)
    held = _held_by(swarm)
    victim = held[cut_short[0]]
    survivor = next(name for name in workers if name != victim)
    swarm.kill_worker(workers[victim])
    states = {n: a["status"] for n, a in swarm.agents().items()}
    moved = sorted(n for n, h in held.items() if h == victim and states[n] == "running")
    say(f"killed {victim} holding {sorted(n for n, h in held.items() if h == victim)}; still running: {moved}")
    assert set(cut_short) <= set(moved)
    assert any(h == survivor for h in held.values()), f"the other worker held no agent before the kill: {held}"

    swarm.wait_until_reviewable()

    final = swarm.agents()
    holders = _held_by(swarm)
    for name in moved:  # every agent the dead worker was running went on, on the other worker's disk
        assert holders[name] == survivor, f"{name} is held by {holders[name]!r}"
        assert Path(final[name]["worktree"]).is_relative_to(disks[survivor]), final[name]["worktree"]

    bare = _served(swarm)
    for name, agent_id in agents.items():
        events = swarm.rows("SELECT seq, kind, payload FROM agents_event WHERE agent_id = %s ORDER BY seq", agent_id)
        seqs = [seq for seq, _, _ in events]
        assert seqs == list(range(1, len(seqs) + 1)), f"{name}: event seqs {seqs}"
        tools = [payload["tool"] for _, kind, payload in events if kind == "tool_call"]
        assert tools == EXPECTED[name][0], f"{name}: tool calls {tools}"
        assert [kind for _, kind, _ in events].count("verdict") == 1, f"{name}: not exactly one verdict"
        # the submitted work is the pushed branch's head, in the web process's bare repository
        branch = f"refs/heads/swarm/{swarm.task_id}/{name.lower()}"
        head = _git("--git-dir", str(bare), "rev-parse", branch).stdout.strip()
        (submitted,) = swarm.rows("SELECT submitted_commit FROM agents_agent WHERE id = %s", agent_id)[0]
        assert head == submitted, f"{name}: pushed {head}, submitted {submitted}"
        source = _git("--git-dir", str(bare), "show", f"{branch}:mathutil.py").stdout
        if "edit_file" in EXPECTED[name][0]:
            assert source.count(FIXED_LINE) == 1 and BUGGY_LINE not in source, f"{name}'s pushed mathutil.py:\n{source}"
        else:
            assert source.count(BUGGY_LINE) == 1, f"{name} (lazy) changed mathutil.py:\n{source}"

    # verification ran on the workers, from the pushed branches: the diligent agents' verify command passed
    passed = dict(
        swarm.rows(
            """
            SELECT a.name, (v.evidence->'verify'->>'exit_code')::int = 0 FROM judges_verdict v
            JOIN agents_agent a ON a.id = v.agent_id WHERE a.task_id = %s
            """,
            swarm.task_id,
        )
    )
    assert {n for n, ok in passed.items() if ok} >= {n for n, (tools, _) in EXPECTED.items() if "edit_file" in tools}

    # each disk holds its own: bare repositories on the web's, clones and worktrees on the workers'
    assert not (swarm.data_dir / "worktrees").exists() and not (swarm.data_dir / "clones").exists()
    for name, disk in disks.items():
        assert (disk / "clones").is_dir() and not (disk / "served").exists(), name
        built = sorted(p.name for p in (disk / "worktrees" / f"task-{swarm.task_id}").iterdir())
        assert {n.lower() for n, h in holders.items() if h == name} <= set(built), (name, built)
    (repo_path,) = swarm.rows(
        "SELECT r.path FROM agents_repository r JOIN agents_taskspec t ON t.repo_id = r.id WHERE t.id = %s",
        swarm.task_id,
    )[0]
    listed = _git("-C", repo_path, "worktree", "list", "--porcelain").stdout
    assert listed.count("worktree ") == 1, f"agent worktrees in the person's repository:\n{listed}"

    # approval merges the pushed branch into the person's repository (where no worktree of Ada's ever was)
    out = swarm.manage("shell", "-c", APPROVE.format(agent_id=agents["Ada"]))
    merged = out.split("MERGED=", 1)[1].strip()
    assert _git("-C", repo_path, "rev-parse", "main").stdout.strip() == merged
    assert FIXED_LINE in _git("-C", repo_path, "show", "main:mathutil.py").stdout
    assert _git("-C", repo_path, "rev-parse", f"swarm/{swarm.task_id}/ada").returncode == 0


def test_auto_approve_merges_work_verified_on_a_worker_with_a_disk_of_its_own(web, tmp_path_factory):
    swarm = web
    _worker(swarm, tmp_path_factory.mktemp("worker-"), "solo")
    out = dict(
        line.split("=", 1)
        for line in swarm.manage("shell", "-c", LAUNCH_AUTO_APPROVED.format(team=swarm.team)).splitlines()
        if line.startswith(("TASK=", "AGENT="))
    )
    swarm.task_id, agent_id = int(out["TASK"]), int(out["AGENT"])
    # verified on the worker (from its clone), merged by the web process: nobody was asked
    swarm.wait_for("Ada's work accepted without a person", lambda: swarm.agents()["Ada"]["status"] == "accepted", 150)
    ((verdict_id, merged, status, reviewer, outcome),) = swarm.rows(
        """
        SELECT v.id, v.merged_commit, v.status, r.reviewer_id, r.outcome FROM judges_verdict v
        JOIN judges_review r ON r.verdict_id = v.id WHERE v.agent_id = %s
        """,
        agent_id,
    )
    assert status == "approved" and reviewer is None and outcome.startswith("merged"), (status, reviewer, outcome)
    (repo_path,) = swarm.rows(
        "SELECT r.path FROM agents_repository r JOIN agents_taskspec t ON t.repo_id = r.id WHERE t.id = %s",
        swarm.task_id,
    )[0]
    assert _git("-C", repo_path, "rev-parse", "main").stdout.strip() == merged
    assert FIXED_LINE in _git("-C", repo_path, "show", "main:mathutil.py").stdout
    # only a worker may ask (and the web process checks the policy itself)
    url = f"{swarm.base_url}/internal/verdicts/{verdict_id}/auto-approve"
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("an anonymous request was answered")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401


def test_served_repositories_need_the_worker_credential_and_refuse_the_base_branch(web, tmp_path_factory):
    swarm = web
    disk = tmp_path_factory.mktemp("worker-")
    _worker(swarm, disk, "solo")
    swarm.launch_demo()
    swarm.wait_for("a worktree on the worker's disk", lambda: any(_held_by(swarm).values()), 60)
    bare = _served(swarm)
    url = f"{swarm.base_url}/internal/git/{bare.name}"
    token = swarm.extra_env["SWARM_WORKER_TOKEN"]

    refs = f"{url}/info/refs?service=git-upload-pack"
    assert _status(refs, None) == 401
    assert _status(refs, "x" * len(token)) == 401
    assert _status(refs, token) == 200
    assert _status(f"{swarm.base_url}/internal/git/repo-999999.git/info/refs?service=git-upload-pack", token) == 404

    # a worker's own clone, pushing with the credential: the base branch and a rewrite of an agent branch are refused
    clone = tmp_path_factory.mktemp("pusher-")
    auth = ["-c", f"http.extraHeader=Authorization: Bearer {token}"]
    _git(*auth, "clone", "-q", url, str(clone / "repo"))
    work = clone / "repo"
    _git("-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "--allow-empty", "-m", "unreviewed", cwd=work)
    main_before = _git("--git-dir", str(bare), "rev-parse", "refs/heads/main").stdout
    refused = _git(*auth, "push", url, "HEAD:refs/heads/main", cwd=work, check=False)
    assert refused.returncode != 0, refused.stdout + refused.stderr
    assert _git("--git-dir", str(bare), "rev-parse", "refs/heads/main").stdout == main_before

    branch = f"swarm/{swarm.task_id}/ada"
    swarm.wait_for(
        "Ada's first push",
        lambda: _git("--git-dir", str(bare), "rev-list", "--count", branch).stdout.strip() != "1",
        60,
    )
    ada_before = _git("--git-dir", str(bare), "rev-parse", branch).stdout
    rewrite = _git(*auth, "push", "--force", url, f"HEAD:refs/heads/{branch}", cwd=work, check=False)
    assert rewrite.returncode != 0, rewrite.stdout + rewrite.stderr
    deletion = _git(*auth, "push", url, f":refs/heads/{branch}", cwd=work, check=False)
    assert deletion.returncode != 0, deletion.stdout + deletion.stderr
    assert _git("--git-dir", str(bare), "rev-parse", branch).stdout == ada_before
    # without the credential nothing is pushed at all
    anonymous = _git("push", url, "HEAD:refs/heads/main", cwd=work, check=False)
    assert anonymous.returncode != 0
