"""Git done by the host, never by an agent: worktrees, commits and diffs, all through agents.hostgit's rule."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from agents.hostgit import (
    GitError,
    UnsafeTree,
    check_tree,
    git,
    remove_git_metadata,
    staged_gitlinks,
    succeeds,
)

__all__ = ["GitError", "UnsafeTree", "check_tree", "git", "succeeds"]  # every host git call goes through agents.hostgit


@contextmanager
def registry(repo_path: str | Path):
    """One change at a time to a repository's worktrees, over this host's threads and processes. `git worktree add`
    reads every other worktree's entry, and one that a concurrent add or remove has half written fails it ("failed
    to read .git/worktrees/<name>/commondir"): two verifications at once in a Celery worker's threads did."""
    key = hashlib.sha1(str(Path(repo_path).resolve()).encode()).hexdigest()[:16]
    lock = Path(settings.DATA_DIR) / "locks" / f"worktrees-{key}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "agent"


class BranchTaken(GitError):
    """The agent's branch exists already and holds other work: never moved, never reused."""


def location(task_id: int, agent_name: str) -> tuple[str, Path]:
    """Where an agent of a task works: its branch swarm/<task>/<agent> and its worktree's directory."""
    return f"swarm/{task_id}/{slug(agent_name)}", Path(settings.WORKTREES_DIR) / f"task-{task_id}" / slug(agent_name)


def base_commit(repo, branch: str = "") -> str:
    """The commit a launch starts every agent from: the head of `branch` (the task's target branch), by default
    the repository's default branch."""
    return git(repo.path, "rev-parse", "--verify", f"{branch or repo.default_branch}^{{commit}}").strip()


def create(repo, task_id: int, agent_name: str, base: str | None = None) -> tuple[str, Path, str]:
    """Make branch swarm/<task>/<agent> at `base` (default: the default branch's head) and its worktree; returns
    (branch, path, base commit).

    A branch left at `base` by a creation cut short (a crash between git's two steps) is taken up again; a branch
    that points anywhere else is someone's work and is refused."""
    branch, path = location(task_id, agent_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = base or base_commit(repo)
    if path.exists():
        return branch, path, base  # created before a crash: keep it and the work in it
    existing = git(repo.path, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).strip()
    if existing and existing != base:
        raise BranchTaken(f"a branch named {branch} already exists at another commit ({existing[:10]}); it is kept")
    with registry(repo.path):
        if not existing:
            git(repo.path, "worktree", "add", "-b", branch, str(path), base)
        else:
            git(repo.path, "worktree", "prune")  # a registration whose directory never came to be holds the branch
            git(repo.path, "worktree", "add", str(path), branch)
    return branch, path, base


def discard_unstarted(repo_path: str | Path, worktree: str | Path) -> None:
    """Remove a worktree no agent has worked in (its creation was cut short, or its agent is gone): the directory
    and git's registration of it; never git inside it. Only below the worktrees directory."""
    path = Path(worktree)
    if path.resolve().is_relative_to(Path(settings.WORKTREES_DIR).resolve()) and path.exists():
        shutil.rmtree(path)
    with registry(repo_path):
        git(repo_path, "worktree", "prune")


def commit_all(worktree: str | Path, message: str) -> str:
    """Commit everything the agent changed in its worktree; returns the head commit.

    Refused (UnsafeTree) while the tree holds a nested repository or any other `.git`; a gitlink that got staged
    anyway is unstaged and refused, never committed."""
    git(worktree, "add", "-A")
    gitlinks = staged_gitlinks(worktree)
    if gitlinks:
        git(worktree, "reset", "-q", "--", *gitlinks)
        raise UnsafeTree(f"refused to commit {', '.join(gitlinks[:20])}: nested repositories are never committed")
    if not succeeds(worktree, "diff-index", "--cached", "--quiet", "HEAD"):
        git(worktree, "commit", "-q", "--no-verify", "-m", message)
    return git(worktree, "rev-parse", "HEAD").strip()


def diff(worktree: str | Path, base: str, head: str = "HEAD") -> str:
    return git(worktree, "diff", "--no-color", "--no-ext-diff", "--no-textconv", f"{base}..{head}")


def diff_stat(worktree: str | Path, base: str, head: str = "HEAD") -> list[dict]:
    out = git(worktree, "diff", "--numstat", "--no-ext-diff", "--no-textconv", f"{base}..{head}")
    rows = []
    for line in out.splitlines():
        added, removed, path = line.split("\t", 2)
        rows.append({"path": path, "added": added, "removed": removed})
    return rows


def head(worktree: str | Path) -> str:
    return git(worktree, "rev-parse", "HEAD").strip()


def is_merged(repo_path: str | Path, branch: str, target: str) -> bool:
    return succeeds(repo_path, "merge-base", "--is-ancestor", f"refs/heads/{branch}", f"refs/heads/{target}")


def remove(repo_path: str | Path, worktree: str | Path, branch: str, delete_branch: bool) -> str:
    """Remove a worktree without losing work: uncommitted changes are committed to its branch first.

    The branch is kept unless `delete_branch`; returns what was done, for the log.
    """
    done = []
    present = bool(worktree) and Path(worktree).is_absolute() and Path(worktree).exists()
    if present:
        planted = remove_git_metadata(worktree)
        if planted:  # never the agent's work: git metadata it was not allowed to make
            done.append(f"removed git metadata the agent made: {', '.join(planted[:20])}")
        head = commit_all(worktree, "swarm: work saved before its worktree was removed")
        done.append(f"saved work at {head[:10]}")
    with registry(repo_path):  # both changes to the registry under one lock
        if present:
            git(repo_path, "worktree", "remove", "--force", str(worktree))
            done.append("worktree removed")
        git(repo_path, "worktree", "prune")
    if delete_branch:
        git(repo_path, "branch", "-D", branch)
        done.append(f"branch {branch} deleted")
    else:
        done.append(f"branch {branch} kept")
    return "; ".join(done)


@contextmanager
def detached(repo_path: str | Path, commit: str, name: str):
    """A throwaway checkout of exactly `commit` (for verification): nothing the agent left lying around."""
    path = Path(settings.DATA_DIR) / "verify" / f"{slug(name)}-{commit[:12]}-{os.getpid()}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with registry(repo_path):
        if path.exists():
            git(repo_path, "worktree", "remove", "--force", str(path), check=False)
        git(repo_path, "worktree", "add", "--detach", "--force", str(path), commit)
    try:
        yield path
    finally:
        with registry(repo_path):
            git(repo_path, "worktree", "remove", "--force", str(path), check=False)
            git(repo_path, "worktree", "prune", check=False)
