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
import queue
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from agents import broker_watch, lease

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

        broker_watch.publish(step, agent_id, token, delay)  # Redis down: a sweep resumes the agent later
    else:
        _embedded().schedule(agent_id, delay)


def is_current(agent_id: int, token: int | None) -> bool:
    from agents.models import Agent

    return token is None or Agent.objects.filter(pk=agent_id, schedule_token=token).exists()


def after_step(agent_id: int, delay: float | None) -> None:
    if delay is not None:
        kick(agent_id, delay)


class EmbeddedExecutor:
    """A timer heap and a fixed set of daemon step threads: nothing here keeps a stopping process alive."""

    def __init__(self, workers: int):
        self.heap: list[tuple[float, int]] = []
        self.pending: set[int] = set()
        self.ready: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.running: set[int] = set()
        self.cond = threading.Condition()
        threading.Thread(target=self._timer, name="swarm-scheduler", daemon=True).start()
        for i in range(workers):
            threading.Thread(target=self._worker, name=f"swarm-step-{i}", daemon=True).start()
        start_sweeper()

    def schedule(self, agent_id: int, delay: float) -> None:
        if lease.shutting_down.is_set():
            return  # the next start resumes it
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
            self.ready.put(agent_id)

    def _worker(self) -> None:
        while True:
            agent_id = self.ready.get()
            with self.cond:
                self.running.add(agent_id)
            try:
                self._run(agent_id)
            finally:
                with self.cond:
                    self.running.discard(agent_id)
                    self.cond.notify_all()

    def _run(self, agent_id: int) -> None:
        from agents.runtime import run_step

        with self.cond:
            self.pending.discard(agent_id)
        if lease.shutting_down.is_set():
            return
        close_old_connections()
        try:
            after_step(agent_id, run_step(agent_id))
        except Exception:
            log.exception("step of agent %s crashed", agent_id)
        finally:
            close_old_connections()

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(timeout=left)
        return True


_executor: EmbeddedExecutor | None = None
_lock = threading.Lock()


def _embedded() -> EmbeddedExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = EmbeddedExecutor(settings.SWARM_MAX_PARALLEL_STEPS)
    return _executor


def resume_orphans(startup: bool = False) -> int:
    """Sweep: re-schedule running agents whose step was lost (lease lapsed or its holder died, or a scheduled
    step long overdue). At start-up every running agent nobody holds is resumed at once: a process that just
    started has no schedule of its own, and the one that had it is gone."""
    from agents.models import Agent

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
        kick(pk)
    if ids:
        log.info("%s re-scheduled %d agent(s) whose step was lost", "start-up sweep" if startup else "sweep", len(ids))
    from agents.signals import sweeping

    sweeping.send(sender=Agent)  # e.g. verifications cut short by a crash are run again
    return len(ids)


def shutdown(timeout: float = 5.0) -> None:
    """SIGTERM: running steps hand their agents back (commands killed, model calls dropped, leases freed), then
    any lease still held here is freed, so the next start resumes every agent at once."""
    lease.begin_shutdown()
    if _executor is not None and not _executor.wait_idle(timeout):
        log.warning("steps still running after %.0f s of shutdown: their leases are freed anyway", timeout)
    try:
        freed = lease.release_mine()
        if freed:
            log.info("freed %d lease(s) held by this process", freed)
    except Exception:
        log.exception("could not free this process's leases")
    finally:
        close_old_connections()


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
