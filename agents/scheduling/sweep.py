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
    lease.release_dead()
    now = timezone.now()
    overdue = now - timedelta(seconds=settings.SWARM_STEP_OVERDUE_SECONDS)
    orphans = Agent.objects.filter(status=Agent.Status.RUNNING).filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    )
    if not startup:
        orphans = orphans.filter(Q(next_step_at__isnull=True) | Q(next_step_at__lt=overdue))
    ids = list(orphans.values_list("pk", flat=True))
    for pk in ids:
        scheduling.kick(pk)
    if ids:
        log.info("%s re-scheduled %d agent(s) whose step was lost", "start-up sweep" if startup else "sweep", len(ids))
    # e.g. verifications cut short by a crash are queued again, worktrees of launched agents made
    sweeping.send(sender=Agent, startup=startup)
    return len(ids)


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
