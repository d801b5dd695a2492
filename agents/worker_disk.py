"""An agent's worktree on the disk of the worker that runs it, when workers share no disk (SWARM_WORKER_DISK=local;
README, Scale-out). With the default shared disk every function here does what Swarm always did, or nothing.

- Each worker keeps a clone per repository in its own data dir (`clones/repo-<id>`), fetched from the web process
  over git's smart HTTP with the worker credential (agents/git_http.py, agents/served.py), and the worktrees of the
  agents it holds (`Agent.disk_holder`; their steps come to its own queue, `steps.<name>`).
- A worker that runs a step of an agent it does not hold (the first step, or one after the holder died and the sweep
  gave the agent to the shared queue) builds the worktree from the agent's pushed branch, then holds the agent.
- Every host commit is pushed at once (`checkpoint` after each tool call, `commit` at a submission), before the step
  saves what the call did: the pushed branch is never behind the saved conversation, as a shared worktree never is.
- Verification fetches the submitted commit into the verifying worker's clone and checks it out from there; what only
  the web process can do (a merge into a person's repository) is asked of it over HTTP (`post_to_web`).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings

from agents import hostgit, lease, turns, worktrees
from agents.models import Agent

log = logging.getLogger(__name__)
FETCH = ("fetch", "-q", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules")
ATTEMPTS = (0.5, 1.0, 2.0)  # waits between tries of a fetch or push (the web process restarting)

_name = ""
_pushed: dict[int, str] = {}  # agent id -> the head this process last pushed or fetched for it


def local() -> bool:
    return settings.SWARM_WORKER_DISK == "local"


def set_name(node: str) -> str:
    """This worker's name (SWARM_WORKER_NAME, else its Celery node name), for its pool's children too."""
    global _name
    _name = settings.SWARM_WORKER_NAME or node
    os.environ["SWARM_WORKER_NAME"] = _name
    return _name


def merges_here() -> bool:
    """Whether this process can merge into a person's repository: not a worker with a disk of its own (the
    repository is the web process's; such a worker leaves an auto-approvable verdict to a person)."""
    return not (local() and _name)


def name() -> str:
    return _name or settings.SWARM_WORKER_NAME or os.environ.get("SWARM_WORKER_NAME") or socket.gethostname()


def url(repo_id: int) -> str:
    return f"{settings.SWARM_WEB_URL}/internal/git/repo-{repo_id}.git"


def clone_path(repo_id: int) -> Path:
    return Path(settings.DATA_DIR) / "clones" / f"repo-{repo_id}"


def worktree_path(agent: Agent) -> Path:
    return Path(settings.WORKTREES_DIR) / f"task-{agent.task_id}" / worktrees.slug(agent.name)


def _locked(repo_id: int):
    """One fetch or worktree change at a time in a clone, over this host's processes and threads: the lock of its
    worktrees (a verification adds and removes its checkout there under the same one)."""
    return worktrees.registry(clone_path(repo_id))


def _clone(repo_id: int) -> Path:
    path = clone_path(repo_id)
    if not (path / ".git").is_dir():
        path.mkdir(parents=True, exist_ok=True)
        hostgit.git(path, "init", "-q", str(path))  # nothing checked out in it: its worktrees are the agents'
    return path


def _remote(cwd: Path, *args: str) -> str:
    """A fetch or push to the web process, tried again for a few seconds (the web process restarting)."""
    transport = hostgit.served_by(settings.SWARM_WORKER_TOKEN)
    for wait in (*ATTEMPTS, None):
        try:
            return hostgit.git(cwd, *args, transport=transport)
        except hostgit.GitError:
            if wait is None or lease.shutting_down.is_set():
                raise
            time.sleep(wait)
    return ""


def _fetch(repo_id: int, branch: str) -> str:
    """The agent's pushed branch, fetched into the clone as refs/served/<branch>; returns its head."""
    clone = _clone(repo_id)
    _remote(clone, *FETCH, url(repo_id), f"+refs/heads/{branch}:refs/served/{branch}")
    return hostgit.git(clone, "rev-parse", "--verify", f"refs/served/{branch}^{{commit}}").strip()


def ensure(agent: Agent, token: int) -> None:
    """Make sure the agent's worktree is on this worker's disk and this worker holds it (sets `agent.worktree`).

    Rebuilt from the pushed branch unless this worker already holds the agent: the branch first at the base commit
    (the sandbox shows it as tag `base`, from the branch's first reflog entry), then moved to the pushed head."""
    if not local():
        return
    me, path = name(), worktree_path(agent)
    if agent.disk_holder == me and (path / ".git").is_file():
        agent.worktree = str(path)
        return
    with turns.released():  # git and the web process's answers: others' steps go on meanwhile
        _rebuild(agent, token, me, path)


def _rebuild(agent: Agent, token: int, me: str, path: Path) -> None:
    repo_id, branch = agent.task.repo_id, agent.branch
    with _locked(repo_id):
        head = _fetch(repo_id, branch)
        clone = clone_path(repo_id)
        if path.exists() or path.is_symlink():  # a stale copy (this worker held the agent before): not the truth
            hostgit.git(clone, "worktree", "remove", "--force", str(path), check=False)
            shutil.rmtree(path, ignore_errors=True)
        hostgit.git(clone, "worktree", "prune")
        hostgit.git(clone, "branch", "-D", branch, check=False)
        hostgit.git(clone, "branch", branch, agent.base_commit)
        hostgit.git(clone, "update-ref", f"refs/heads/{branch}", head)
        path.parent.mkdir(parents=True, exist_ok=True)
        hostgit.git(clone, "worktree", "add", "-q", str(path), branch)
    if not Agent.objects.filter(pk=agent.pk, fencing_token=token).update(disk_holder=me, worktree=str(path)):
        raise lease.LeaseLost
    _pushed[agent.pk] = head
    agent.worktree, agent.disk_holder = str(path), me
    log.info("agent %s: worktree built on %s from %s at %s", agent.pk, me, branch, head[:10])


def _push(agent: Agent, head: str) -> None:
    if _pushed.get(agent.pk) == head:
        return
    # fast-forward only (the web process refuses anything else): a worker that lost the agent cannot push over it
    _remote(Path(agent.worktree), "push", "-q", url(agent.task.repo_id), f"{head}:refs/heads/{agent.branch}")
    _pushed[agent.pk] = head


def commit(agent: Agent, message: str) -> str:
    """Commit everything the agent changed (worktrees.commit_all) and, on a disk of its own, push it; the head."""
    head = worktrees.commit_all(agent.worktree, message)
    if local():
        _push(agent, head)
    return head


def checkpoint(agent: Agent, message: str) -> None:
    """After a tool call, on a disk of its own: commit and push what the call changed, so that another worker can
    go on from it. A tree holding git metadata is not committed (its submission is refused the same way)."""
    if not local():
        return
    try:
        with turns.released():  # git and the push: others' steps go on meanwhile
            commit(agent, message)
    except hostgit.UnsafeTree as exc:
        log.info("agent %s: not pushed: %s", agent.pk, exc)


def verification_source(agent: Agent, commit_sha: str) -> str | None:
    """A repository on this disk holding the submitted commit (fetched from the web process), or None with a
    shared disk, where the repository and the agent's worktree already hold it."""
    if not local():
        return None
    repo_id = agent.task.repo_id
    with _locked(repo_id):
        clone = _clone(repo_id)
        if not hostgit.succeeds(clone, "cat-file", "-e", f"{commit_sha}^{{commit}}"):
            _fetch(repo_id, agent.branch)
    return str(clone)


def post_to_web(path: str, timeout: float = 300) -> tuple[int, str]:
    """POST to one of the web process's internal URLs with the worker credential, tried again for a few seconds while
    it cannot be reached (restarting); (HTTP status, the start of its answer), or (0, why) when it never answered."""
    request = urllib.request.Request(
        f"{settings.SWARM_WEB_URL}{path}",
        data=b"",
        method="POST",
        headers={"Authorization": f"Bearer {settings.SWARM_WORKER_TOKEN}"},
    )
    for wait in (*ATTEMPTS, None):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read(4000).decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(4000).decode(errors="replace")
        except OSError as exc:
            if wait is None or lease.shutting_down.is_set():
                return 0, str(exc)
            time.sleep(wait)
    return 0, "not reached"
