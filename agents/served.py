"""The bare repositories the web process keeps and serves to its workers when they have disks of their own
(SWARM_WORKER_DISK=local; README, Scale-out).

One bare repository per registered repository, in the web process's data dir: its default branch copied from the
person's repository at each launch, and every agent's branch, created at launch on the base commit and then moved
only by the pushes of the worker that holds the agent (agents/git_http.py serves it; agents/worker_disk.py is the
worker's side). What a person sees of an agent's work comes home into their repository when it is needed there
(approval, export, clean-up), exactly as the shared mode's worktrees leave it: a branch `swarm/<task>/<agent>`.

Pushes are held to one rule (`push_refusal`): only the branch of an agent of this repository, never a deletion, never
the base branch or any other ref; receive-pack itself refuses every non-fast-forward (hostgit.RECEIVE). No fencing
rule needs a forced push: a worker that takes an agent over rebuilds its worktree from the pushed head, so its
commits descend from it, and a worker that lost the agent meanwhile can only push a commit that does not.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from agents import hostgit
from agents.models import Agent, Repository

ZERO = "0" * 40
COMMAND = re.compile(r"^([0-9a-f]{40}) ([0-9a-f]{40}) (refs/[^\x00\s]+)$")
MAX_COMMANDS = 1000


def enabled() -> bool:
    return settings.SWARM_WORKER_DISK == "local"


def path(repo_id: int) -> Path:
    return Path(settings.DATA_DIR) / "served" / f"repo-{repo_id}.git"


def ensure(repo: Repository) -> Path:
    """The repository's bare repository, made the first time it is needed."""
    bare = path(repo.pk)
    if not (bare / "HEAD").is_file():
        bare.parent.mkdir(parents=True, exist_ok=True)
        hostgit.git(bare.parent, "init", "--bare", "-q", "-b", repo.default_branch, str(bare))
    return bare


def publish(repo: Repository, branches: list[str], base: str) -> None:
    """Copy the default branch as the person's repository has it now, and create each agent branch at `base` (a
    branch that already exists is an error: nothing of another agent's work is overwritten)."""
    bare = ensure(repo)
    ref = f"refs/heads/{repo.default_branch}"
    fetch = ("fetch", "-q", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules")
    hostgit.bare(bare, *fetch, str(repo.path), f"+{ref}:{ref}", transport=hostgit.local_transport())
    if branches:
        commands = "".join(f"create refs/heads/{branch} {base}\n" for branch in branches)
        hostgit.bare(bare, "update-ref", "--stdin", input=commands)


def home(repo: Repository, branch: str) -> None:
    """Bring an agent's pushed branch into the person's repository, as the shared mode's worktrees leave it there
    (a new branch or a fast-forward: a branch a person moved there is left alone, and approval then sees it moved).
    Nothing to do with a shared disk."""
    if not enabled():
        return
    ref = f"refs/heads/{branch}"
    fetch = ("fetch", "-q", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules")
    hostgit.git(repo.path, *fetch, str(ensure(repo)), f"{ref}:{ref}", transport=hostgit.local_transport())


def delete_branch(repo: Repository, branch: str) -> None:
    if enabled():
        hostgit.bare(ensure(repo), "update-ref", "-d", f"refs/heads/{branch}", check=False)


def read_commands(body: bytes) -> list[tuple[str, str, str]] | None:
    """The (old, new, ref) updates at the start of a receive-pack request (pkt-lines up to the first flush), or None
    when it holds anything else (shallow lines, a signed push, a malformed line)."""
    commands, at = [], 0
    while at + 4 <= len(body) and len(commands) <= MAX_COMMANDS:
        try:
            size = int(body[at : at + 4], 16)
        except ValueError:
            return None
        if size == 0:
            return commands or None
        if size < 5 or at + size > len(body):
            return None
        line = body[at + 4 : at + size].split(b"\0", 1)[0].rstrip(b"\n").decode("ascii", "replace")
        found = COMMAND.match(line)
        if not found:
            return None
        commands.append(found.groups())
        at += size
    return None


def push_refusal(repo: Repository, body: bytes) -> str:
    """Why a worker's push is refused ("" when it may go on): only agents' branches of this repository, created or
    moved, never deleted."""
    commands = read_commands(body)
    if commands is None:
        return "only plain ref updates are accepted"
    wanted = {ref.removeprefix("refs/heads/") for _, _, ref in commands}
    known = set(Agent.objects.filter(task__repo=repo, branch__in=wanted).values_list("branch", flat=True))
    for _, new, ref in commands:
        branch = ref.removeprefix("refs/heads/")
        if not (ref.startswith("refs/heads/swarm/") and branch in known):
            return f"{ref} is not an agent's branch of this repository"
        if new == ZERO:
            return f"{ref}: branches are never deleted by a push"
    return ""
