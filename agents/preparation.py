"""Launched agents' worktrees, made after the launch has answered: each agent starts as soon as its own is ready.

A launch creates its agents as *preparing* (one insert) and hands them to the scheduling backend
(`scheduling.prepare`), which runs `prepare_batch` jobs in the background: threads of the web process, or Celery
tasks on the housekeeping queue.
For each agent, in launch order:

- claim it with the step's lease fields (a conditional update: preparing, no worktree, nobody holding it), so two
  preparers (a duplicate from a sweep, a redelivered task) never make the same worktree;
- make its branch and worktree (host git, agents.hostgit's rule) at the commit the launch recorded;
- in one transaction: *running*, branch and worktree recorded, its status event; after commit its first step is
  kicked. If a person stopped it meanwhile, the worktree is recorded and the status left alone (Clean up removes
  it); if its task was deleted meanwhile, the worktree is removed again. No worktree is left that no agent knows.
- a git failure is that agent's *error*, with the reason; the others go on. Resume makes the worktree again.

The task page shows the progress ("worktrees 120/1000"), broadcast at most a few times a second. A preparer that
died (a killed process) leaves agents preparing: the sweep (`sweeping`) hands them to the backend again.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents import events, lease, scheduling, services, worktrees
from agents.models import Agent
from agents.signals import sweeping

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 0.5  # at most one progress frame per task this often, from each process
# git fails now and then when two worktrees of one repository are added or removed at the same moment (it reads the
# other's half-made admin directory: "failed to read .git/worktrees/…/commondir"); such a failure is tried again
RETRIES = (0.5, 2.0)


def prepare(agent_ids: list[int]) -> list[int]:
    """Make these agents' worktrees and start each as soon as its own is ready; returns the ids not reached because
    the process is stopping (the backend hands them on, or the next sweep takes them up)."""
    try:
        for index, agent_id in enumerate(agent_ids):
            if lease.shutting_down.is_set():
                return list(agent_ids[index:])
            try:
                prepare_one(agent_id)
            except Exception:  # the database went away mid-way: the sweep takes the agent up again
                log.exception("preparing the worktree of agent %s failed", agent_id)
    finally:
        # also when all of them were stopped before their turn: the page's line must not wait for them
        progress.settled(set(Agent.objects.filter(pk__in=agent_ids).values_list("task_id", flat=True)))
    return []


def prepare_batch(agent_ids: list[int]) -> None:
    """The `agents.prepare` job (housekeeping queue): one batch of a lane, then the rest of the lane queued again,
    so the first agents' steps never wait behind the whole fleet's worktrees."""
    batch, rest = agent_ids[: scheduling.PREPARE_BATCH], agent_ids[scheduling.PREPARE_BATCH :]
    left = prepare(batch)  # the process stopping: for another worker, or the next start's sweep
    scheduling.prepare_later(left + rest)


def prepare_one(agent_id: int) -> bool:
    """Make one agent's worktree if it still waits for one and nobody else is making it; True if this call did."""
    if not _claim(agent_id):
        return False
    agent = Agent.objects.select_related("task", "task__repo").get(pk=agent_id)
    try:
        branch, path, base = _make(agent)
    except (worktrees.GitError, OSError) as exc:
        _failed(agent, f"could not create its worktree: {exc}")
    else:
        _ready(agent, branch, path, base)
    progress.changed(agent.task_id)
    return True


def _make(agent: Agent) -> tuple[str, Path, str]:
    for wait in RETRIES:
        try:
            return _make_once(agent)
        except worktrees.BranchTaken:
            raise
        except worktrees.GitError as exc:
            log.info("agent %s: git failed making its worktree (%s); trying again in %.1f s", agent.pk, exc, wait)
            time.sleep(wait)
    return _make_once(agent)


def _make_once(agent: Agent) -> tuple[str, Path, str]:
    _discard_leftover(agent)
    return worktrees.create(agent.task.repo, agent.task_id, agent.name, agent.base_commit or None)


def _claim(agent_id: int) -> bool:
    now = timezone.now()
    return (
        Agent.objects.filter(pk=agent_id, status=Agent.Status.PREPARING, worktree="")
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(lease_owner=lease.worker_id(), lease_expires_at=now + timedelta(seconds=settings.SWARM_LEASE_SECONDS))
        == 1
    )


def _discard_leftover(agent: Agent) -> None:
    """A directory at the agent's place that no agent records is what a preparation cut short left: never worked in
    (the agent never ran), so it goes, and the worktree is made whole again."""
    _, path = worktrees.location(agent.task_id, agent.name)
    if path.exists() and not Agent.objects.filter(worktree=str(path)).exists():
        log.info("agent %s: removing the worktree a cut-short preparation left at %s", agent.pk, path)
        worktrees.discard_unstarted(agent.task.repo.path, path)


def _ready(agent: Agent, branch: str, path: Path, base: str) -> None:
    where = {"branch": branch, "worktree": str(path), "base_commit": base, "lease_expires_at": None}
    with transaction.atomic():
        status = Agent.objects.select_for_update().filter(pk=agent.pk).values_list("status", flat=True).first()
        if status == Agent.Status.PREPARING:
            services.set_status(
                agent.pk,
                Agent.Status.RUNNING,
                f"started on branch {branch}",
                started_at=timezone.now(),
                activity="starting",
                **where,
            )
            transaction.on_commit(lambda: scheduling.kick(agent.pk))
        elif status is not None:  # stopped meanwhile: the worktree stays on record for Clean up
            Agent.objects.filter(pk=agent.pk).update(**where)
    if status is None:  # its task was deleted meanwhile: nobody would ever clean this worktree up
        worktrees.discard_unstarted(agent.task.repo.path, path)


def _failed(agent: Agent, reason: str) -> None:
    log.warning("agent %s: %s", agent.pk, reason)
    with transaction.atomic():
        still = Agent.objects.select_for_update().filter(pk=agent.pk, status=Agent.Status.PREPARING).exists()
        if still:
            services.set_status(agent.pk, Agent.Status.ERROR, reason[:280], lease_expires_at=None)
        else:
            Agent.objects.filter(pk=agent.pk).update(lease_expires_at=None)


def resume_lost(startup: bool = False) -> int:
    """Agents left preparing by a preparer that died or a queue that lost them, handed to the backend again.

    At start-up every preparing agent nobody holds (this process had queued nothing yet); otherwise those queued
    longer than SWARM_STEP_OVERDUE_SECONDS ago whose task has not had an agent start in that time either (a big
    launch still on its way is not lost). A second preparer of an agent is harmless: it cannot claim it."""
    now = timezone.now()
    overdue = now - timedelta(seconds=settings.SWARM_STEP_OVERDUE_SECONDS)
    lost = Agent.objects.filter(status=Agent.Status.PREPARING, worktree="").filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    )
    if not startup:
        moving = Agent.objects.filter(started_at__gt=overdue).values("task_id")
        lost = lost.filter(Q(next_step_at__isnull=True) | Q(next_step_at__lt=overdue)).exclude(task_id__in=moving)
    ids = list(lost.order_by("id").values_list("pk", flat=True))
    if ids:
        Agent.objects.filter(pk__in=ids).update(next_step_at=now)
        log.info("handing %d agent(s) left preparing to the scheduler again", len(ids))
        scheduling.prepare(ids)
    return len(ids)


def _on_sweep(sender, startup: bool = False, **kwargs) -> None:
    resume_lost(startup=startup)


sweeping.connect(_on_sweep, dispatch_uid="agents.preparation.resume_lost")


class _Progress:
    """At most one progress frame per task every PROGRESS_SECONDS while its worktrees are being made, and one when
    the last is done (which hides the line). Never from a timer: a frame goes out from the preparer's own work."""

    def __init__(self, interval: float):
        self.interval = interval
        self.sent: dict[int, float] = {}  # task id -> when its last frame went (monotonic)
        self.lock = threading.Lock()

    def changed(self, task_id: int) -> None:
        now = time.monotonic()
        with self.lock:
            if now - self.sent.get(task_id, -self.interval) < self.interval:
                return  # the next change after the interval, or the last one, shows this one too
            self.sent[task_id] = now
        self._send(task_id)

    def settled(self, task_ids: set[int]) -> None:
        """A preparer finished its agents: a task with nobody left preparing gets its last frame now."""
        for task_id in task_ids:
            if not Agent.objects.filter(task_id=task_id, status=Agent.Status.PREPARING).exists():
                with self.lock:
                    self.sent.pop(task_id, None)
                self._send(task_id)

    def _send(self, task_id: int) -> None:
        try:
            events.broadcast_preparation(task_id)
        except Exception:  # the page shows the state from the database at its next load or reconnect
            log.exception("progress of task %s not broadcast", task_id)


progress = _Progress(PROGRESS_SECONDS)
