"""A repository cloned from a URL, in the background: the clone, each later fetch, and their state on the row.

Adding a repository by URL saves it as *cloning* and queues the `agents.clone` job on the housekeeping queue
(agents.scheduling), which makes a bare repository in the data dir (`mirrors/repo-<id>.git`) and fetches into it
through agents/remotes.py, writing git's progress to the row (at most twice a second) for the Repositories page,
which polls it. The job claims the row (a conditional update), beats while it works, and ends *ready* (default
branch from the remote's HEAD) or *failed* with git's words, scrubbed of every secret. *Fetch* updates a ready one the
same way (*fetching*: agents go on meanwhile); *Retry* clones a failed one again. A job lost with its queue is queued
again by the sweep; one whose process died (no beat for a minute) is marked failed, to be retried by a person.
"""

from __future__ import annotations

import logging
import shutil
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents import hostgit, remotes, scheduling
from agents.errors import ServiceError
from agents.models import Repository
from agents.permissions import require
from agents.signals import sweeping

log = logging.getLogger(__name__)

JOB = "agents.clone"
Status = Repository.CloneStatus
BUSY = (Status.CLONING, Status.FETCHING)
PROGRESS_SECONDS = 0.5  # progress written to the row at most this often
BEAT_SECONDS = 10  # a job's row shows it alive at least this often
DEAD_SECONDS = 90  # a claimed row without a beat this long: its process died (ls-remote, beatless, takes 30 s at most)


def clone_path(repo_id: int) -> Path:
    return hostgit.clones_dir() / f"repo-{repo_id}.git"


def added(repo: Repository) -> None:
    """A repository just saved by URL (inside the saving transaction): its place, and its clone queued on commit."""
    Repository.objects.filter(pk=repo.pk).update(
        path=str(clone_path(repo.pk)), clone_status=Status.CLONING, clone_queued_at=timezone.now()
    )
    repo.refresh_from_db()
    transaction.on_commit(lambda: scheduling.submit(JOB, repo.pk))


def refresh(by, repo: Repository) -> Repository:
    """The Fetch button (a ready clone) and the Retry button (a failed one): queued in the background."""
    require(by, repo.team_id, "manage_repos")
    if not repo.url:
        raise ServiceError(f"{repo.name} is a repository on this server, not a clone: there is nothing to fetch.", 400)
    again = Status.CLONING if repo.clone_status == Status.FAILED else Status.FETCHING
    with transaction.atomic():
        claimed = Repository.objects.filter(pk=repo.pk, clone_status__in=[Status.READY, Status.FAILED]).update(
            clone_status=again, clone_progress=None, clone_detail="", clone_queued_at=timezone.now(), clone_beat_at=None
        )
        if claimed != 1:
            raise ServiceError(f"{repo.name} is already being cloned or fetched; its progress is on the page.", 409)
        transaction.on_commit(lambda: scheduling.submit(JOB, repo.pk))
    repo.refresh_from_db()
    return repo


def run(repo_id: int) -> None:
    """The `agents.clone` job: clone or fetch one repository, whichever its row asks for, unless another job has it."""
    now = timezone.now()
    if Repository.objects.filter(pk=repo_id, clone_status__in=BUSY, clone_beat_at=None).update(clone_beat_at=now) != 1:
        return
    repo = Repository.objects.get(pk=repo_id)
    cloning = repo.clone_status == Status.CLONING
    started = time.monotonic()
    try:
        branch, warning = _work(repo, cloning, _Progress(repo))
    except remotes.RemoteFailed as exc:
        branch, warning, failed = None, exc.message, True
    except (hostgit.GitError, OSError) as exc:  # our own side (disk, git): said as it is, no secret can be in it
        branch, warning, failed = None, f"Swarm could not store the clone: {str(exc)[:300]}", True
    else:
        failed = False
    log.info("repository %s: %s in %.1f s", repo_id, warning or "done", time.monotonic() - started)
    if failed and not cloning:
        warning = f"The last fetch failed: {warning}"
    done = {"clone_beat_at": None, "clone_progress": None, "clone_detail": warning[:500]}
    if failed and cloning:
        done["clone_status"] = Status.FAILED
    else:  # a failed fetch leaves the clone as it was: still usable, the error shown beside it
        done.update(clone_status=Status.READY, **({} if failed else {"fetched_at": timezone.now()}))
        if branch:
            done["default_branch"] = branch
    # only this attempt's claim: one the sweep gave up on (and a person retried) is not overwritten
    Repository.objects.filter(pk=repo_id, clone_queued_at=repo.clone_queued_at, clone_beat_at__isnull=False).update(
        **done
    )


def _work(repo: Repository, cloning: bool, progress: _Progress) -> tuple[str, str]:
    """(default branch, what a person should know) after cloning or fetching `repo`; RemoteFailed if git could not."""
    deadline = time.monotonic() + settings.SWARM_CLONE_TIMEOUT
    try:  # the operator's lists as they are now: a host or credential withdrawn since is not reached
        remote = remotes.parse(repo.url)
    except remotes.Refused as refused:
        raise remotes.RemoteFailed(f"the URL {refused.message}") from None
    via = remotes.access(remote, repo.credential)
    gitdir = Path(repo.path)
    if cloning:
        shutil.rmtree(gitdir, ignore_errors=True)  # what a failed attempt left
        gitdir.parent.mkdir(parents=True, exist_ok=True)
        hostgit.git(gitdir.parent, "init", "--bare", "-q", "--template=", str(gitdir))
        branch = remotes.remote_head(gitdir, remote, via, max(1.0, min(30.0, deadline - time.monotonic())))
    else:
        branch = repo.default_branch
    kept = remotes.fetch(gitdir, remote, via, progress, deadline, settings.SWARM_CLONE_MAX_BYTES)
    if not hostgit.bare(gitdir, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", check=False):
        raise remotes.RemoteFailed(f"the remote has no branch {branch} (is the repository empty?).")
    if cloning:
        hostgit.bare(gitdir, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
    warning = ""
    if kept:
        warning = (
            f"Not updated from the remote: {', '.join(kept[:10])} (approved work was merged here and the remote does"
            " not have it; push it there, then fetch again)."
        )
    return branch, warning


class _Progress:
    """git's progress onto the row, at most every PROGRESS_SECONDS, and a beat at least every BEAT_SECONDS."""

    def __init__(self, repo: Repository):
        self.attempt = {"pk": repo.pk, "clone_queued_at": repo.clone_queued_at, "clone_beat_at__isnull": False}
        self.written, self.beat = 0.0, time.monotonic()

    def __call__(self, phase: str | None, percent: int | None) -> None:
        now = time.monotonic()
        fields = {}
        if phase is not None and now - self.written >= PROGRESS_SECONDS:
            fields = {"clone_detail": phase, "clone_progress": percent}
            self.written = now
        elif now - self.beat < BEAT_SECONDS:
            return
        self.beat = now
        Repository.objects.filter(**self.attempt).update(clone_beat_at=timezone.now(), **fields)


def resume_lost(startup: bool = False) -> None:
    """Clones whose job was lost with its queue are queued again; those whose process died are marked failed."""
    now = timezone.now()
    busy = Repository.objects.filter(clone_status__in=BUSY)
    queued = busy.filter(clone_beat_at=None)
    if not startup:
        queued = queued.filter(clone_queued_at__lt=now - timedelta(seconds=settings.SWARM_STEP_OVERDUE_SECONDS))
    for repo_id in queued.values_list("pk", flat=True):
        scheduling.submit(JOB, repo_id)
    dead = busy.filter(clone_beat_at__lt=now - timedelta(seconds=DEAD_SECONDS))
    stopped = "interrupted: the process working on it stopped. Try again."
    dead.filter(clone_status=Status.CLONING).update(
        clone_status=Status.FAILED, clone_beat_at=None, clone_detail=stopped
    )
    dead.update(clone_status=Status.READY, clone_beat_at=None, clone_detail=f"The last fetch was {stopped}")


def _on_sweep(sender, startup: bool = False, **kwargs) -> None:
    resume_lost(startup=startup)


sweeping.connect(_on_sweep, dispatch_uid="agents.cloning.resume_lost")
