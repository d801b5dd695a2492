"""The sweep: agents whose step was lost (a crashed worker or broker, a killed process) get a new one. Every
process that runs steps sweeps, at start-up and every SWARM_SWEEP_SECONDS; sweeps are idempotent."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from agents import lease, scheduling
from agents.models import Agent
from agents.signals import sweeping

log = logging.getLogger(__name__)


def resume_orphans(startup: bool = False) -> int:
    """Sweep: re-schedule running agents whose step was lost (lease lapsed or its holder died, or a scheduled
    step long overdue). At start-up every running agent nobody holds is resumed at once: a process that just
    started has no schedule of its own, and the one that had it is gone."""
    dead = lease.release_dead()
    now = timezone.now()
    overdue = now - timedelta(seconds=settings.SWARM_STEP_OVERDUE_SECONDS)
    orphans = Agent.objects.filter(status=Agent.Status.RUNNING).filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    )
    if not startup:
        orphans = orphans.filter(Q(next_step_at__isnull=True) | Q(next_step_at__lt=overdue))
    ids = list(orphans.values_list("pk", flat=True))
    _give_up_lost_disks(orphans.filter(Q(pk__in=dead) | Q(next_step_at__lt=overdue)), now)
    for pk in ids:
        scheduling.kick(pk)
    if ids:
        log.info("%s re-scheduled %d agent(s) whose step was lost", "start-up sweep" if startup else "sweep", len(ids))
    # e.g. verifications cut short by a crash are queued again, worktrees of launched agents made
    sweeping.send(sender=Agent, startup=startup)
    return len(ids)


def _give_up_lost_disks(lost, now) -> None:
    """SWARM_WORKER_DISK=local: a running agent whose step was lost (its holder's process died, or its step is long
    overdue: nobody serves its worker's queue) leaves that worker; its next step goes to the shared queue, and the
    worker that takes it rebuilds the worktree from the pushed branch. Conditional on the holder and on nobody
    holding the lease, so an agent whose step started meanwhile stays."""
    if settings.SWARM_WORKER_DISK != "local":
        return
    for pk, holder in lost.exclude(disk_holder="").values_list("pk", "disk_holder"):
        moved = (
            Agent.objects.filter(pk=pk, disk_holder=holder)
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
            .update(disk_holder="")
        )
        if moved:
            log.warning("agent %s: worker %s is gone or silent; another worker takes its work over", pk, holder)


_sweeper_started = False
_sweeper_lock = threading.Lock()


def start_sweeper() -> None:
    """Startup sweep, then one every SWARM_SWEEP_SECONDS, in a daemon thread of this process."""
    global _sweeper_started
    with _sweeper_lock:
        if _sweeper_started:
            return
        _sweeper_started = True

    def loop() -> None:
        startup = True
        while not lease.shutting_down.is_set():
            try:
                close_old_connections()
                resume_orphans(startup=startup)
                startup = False
            except Exception:
                log.exception("sweep failed")
            finally:
                close_old_connections()
            lease.shutting_down.wait(settings.SWARM_SWEEP_SECONDS)

    threading.Thread(target=loop, name="swarm-sweeper", daemon=True).start()
