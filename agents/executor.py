"""Where steps run. `kick` schedules an agent's next step; the step itself is always `runtime.run_step`.

- inprocess: a small thread pool inside the web process (embedded mode). Broadcasts hop to the web
  server's event loop, since the in-memory channel layer belongs to that loop.
- celery: one Celery task per step, on any number of workers.
- manual: nothing is scheduled; tests drive `run_step` themselves.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F, Q
from django.utils import timezone

log = logging.getLogger(__name__)

main_loop: asyncio.AbstractEventLoop | None = None


def kick(agent_id: int, delay: float = 0.0) -> None:
    """Schedule the agent's next step. Each kick supersedes the previous schedule (one chain per agent)."""
    mode = settings.SWARM_EXECUTOR
    if mode == "manual":
        return
    from agents.models import Agent

    due = timezone.now() + timedelta(seconds=delay)
    with transaction.atomic():
        Agent.objects.filter(pk=agent_id).update(schedule_token=F("schedule_token") + 1, next_step_at=due)
        token = Agent.objects.values_list("schedule_token", flat=True).get(pk=agent_id)
    if mode == "celery":
        from agents.tasks import step

        step.apply_async((agent_id, token), countdown=delay)
    else:
        _embedded().schedule(agent_id, delay)


def is_current(agent_id: int, token: int | None) -> bool:
    from agents.models import Agent

    return token is None or Agent.objects.filter(pk=agent_id, schedule_token=token).exists()


def after_step(agent_id: int, delay: float | None) -> None:
    if delay is not None:
        kick(agent_id, delay)


class EmbeddedExecutor:
    def __init__(self, workers: int):
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="swarm-step")
        self.heap: list[tuple[float, int]] = []
        self.pending: set[int] = set()
        self.cond = threading.Condition()
        threading.Thread(target=self._timer, name="swarm-scheduler", daemon=True).start()
        start_sweeper()

    def schedule(self, agent_id: int, delay: float) -> None:
        with self.cond:
            if agent_id in self.pending:
                return  # already due: one step at a time per agent
            self.pending.add(agent_id)
            heapq.heappush(self.heap, (time.monotonic() + delay, agent_id))
            self.cond.notify()

    def _timer(self) -> None:
        while True:
            with self.cond:
                while not self.heap or self.heap[0][0] > time.monotonic():
                    self.cond.wait(timeout=(self.heap[0][0] - time.monotonic()) if self.heap else None)
                _, agent_id = heapq.heappop(self.heap)
            self.pool.submit(self._run, agent_id)

    def _run(self, agent_id: int) -> None:
        from agents.runtime import run_step

        with self.cond:
            self.pending.discard(agent_id)
        close_old_connections()
        try:
            after_step(agent_id, run_step(agent_id))
        except Exception:
            log.exception("step of agent %s crashed", agent_id)
        finally:
            close_old_connections()


_executor: EmbeddedExecutor | None = None
_lock = threading.Lock()


def _embedded() -> EmbeddedExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = EmbeddedExecutor(settings.SWARM_MAX_PARALLEL_STEPS)
    return _executor


def resume_orphans() -> int:
    """Sweep: re-schedule running agents whose step was lost (lease lapsed, or a scheduled step long overdue)."""
    from agents.models import Agent

    now = timezone.now()
    overdue = now - timedelta(seconds=settings.SWARM_STEP_OVERDUE_SECONDS)
    ids = list(
        Agent.objects.filter(status=Agent.Status.RUNNING)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .filter(Q(next_step_at__isnull=True) | Q(next_step_at__lt=overdue))
        .values_list("pk", flat=True)
    )
    for pk in ids:
        kick(pk)
    if ids:
        log.info("sweep re-scheduled %d agent(s) whose step was lost", len(ids))
    from agents.signals import sweeping

    sweeping.send(sender=Agent)  # e.g. verifications cut short by a crash are run again
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
        while True:
            try:
                close_old_connections()
                resume_orphans()
            except Exception:
                log.exception("sweep failed")
            finally:
                close_old_connections()
            time.sleep(settings.SWARM_SWEEP_SECONDS)

    threading.Thread(target=loop, name="swarm-sweeper", daemon=True).start()
