"""Embedded mode: a timer heap and a fixed set of daemon step threads inside the web process (SQLite, no Redis).
A step thread is busy only while a step does its own work: its model call waits on the calls' loop
(agents/inflight.py), which schedules the agent's next step when the call is over.

Like the Celery backend it honours the schedule token: an agent's newest kick wins, whether it is due sooner or
later than the ones before it, and a superseded schedule runs no step. Nothing here keeps a stopping process
alive. Broadcasts from the step threads hop to the web server's event loop (agents/events.py), since the
in-memory channel layer belongs to that loop.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time

from django.conf import settings

from agents import connections, inflight, lease, scheduling
from agents.scheduling import sweep
from agents.scheduling.base import Scheduler

log = logging.getLogger(__name__)


class EmbeddedScheduler(Scheduler):
    runs_steps_here = True

    def __init__(self, workers: int | None = None):
        self.heap: list[tuple[float, int, int]] = []  # (due, agent id, schedule token)
        self.newest: dict[int, int] = {}  # agent id -> the token of its newest schedule not yet due
        self.ready: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
        self.busy = 0  # steps running now (one agent may briefly have two: the second finds its lease taken)
        self.cond = threading.Condition()
        threading.Thread(target=self._timer, name="swarm-scheduler", daemon=True).start()
        for i in range(workers or settings.SWARM_MAX_PARALLEL_STEPS):
            threading.Thread(target=self._worker, name=f"swarm-step-{i}", daemon=True).start()
        # jobs run on threads of their own queue: a long verification never takes a step's thread
        self.jobs = {
            scheduling.VERIFY: _JobThreads(self, scheduling.VERIFY, settings.SWARM_MAX_PARALLEL_VERIFICATIONS),
            scheduling.HOUSEKEEPING: _JobThreads(self, scheduling.HOUSEKEEPING, 2),
        }

    def submit(self, name: str, queue: str, args: tuple, delay: float = 0.0) -> None:
        if lease.shutting_down.is_set():
            return  # the next start's sweep finds the work undone
        if name == scheduling.PREPARE_JOB:
            scheduling.warm_step()  # a launch: its steps follow its worktrees
        if delay > 0:
            timer = threading.Timer(delay, self.submit, (name, queue, args))  # lost with the process: swept later
            timer.daemon = True
            timer.start()
            return
        self.jobs[queue].put(name, args)

    def schedule(self, agent_id: int, token: int, delay: float, holder: str = "") -> None:
        if lease.shutting_down.is_set():
            return  # the next start resumes it
        scheduling.warm_step()
        with self.cond:
            # supersedes every earlier schedule of this agent, due sooner or later (two kicks racing in two threads
            # may arrive out of order: the higher token is the newer one)
            self.newest[agent_id] = max(token, self.newest.get(agent_id, token))
            heapq.heappush(self.heap, (time.monotonic() + delay, agent_id, token))
            self.cond.notify()

    def start(self) -> None:
        log.info("embedded scheduler starting: resuming running agents")
        sweep.start_sweeper()  # its first sweep is the start-up one: every running agent nobody holds

    def stop(self, timeout: float) -> None:
        """Running steps hand their agents back (commands killed, model calls in flight cancelled, leases freed),
        then any lease still held here is freed, so the next start resumes every agent at once."""
        lease.begin_shutdown()
        deadline = time.monotonic() + timeout
        if not (self.wait_idle(timeout) and inflight.drain(max(0.0, deadline - time.monotonic()))):
            log.warning("steps still running after %.0f s of shutdown: their leases are freed anyway", timeout)
        try:
            freed = lease.release_mine()
            if freed:
                log.info("freed %d lease(s) held by this process", freed)
        except Exception:
            log.exception("could not free this process's leases")
        finally:
            connections.done()

    def _timer(self) -> None:
        while True:
            with self.cond:
                while not self.heap or self.heap[0][0] > time.monotonic():
                    self.cond.wait(timeout=(self.heap[0][0] - time.monotonic()) if self.heap else None)
                _, agent_id, token = heapq.heappop(self.heap)
                if self.newest.get(agent_id) != token:
                    continue  # superseded: the newer schedule is in the heap
                del self.newest[agent_id]
            self.ready.put((agent_id, token))

    def _worker(self) -> None:
        while True:
            agent_id, token = self.ready.get()
            with self.cond:
                self.busy += 1
            try:
                self._run(agent_id, token)
            finally:
                with self.cond:
                    self.busy -= 1
                    self.cond.notify_all()

    def _run(self, agent_id: int, token: int) -> None:
        if lease.shutting_down.is_set():
            return
        connections.done()
        try:
            scheduling.run(agent_id, token)  # also drops a schedule superseded by a kick from another process
        except Exception:
            log.exception("step of agent %s crashed", agent_id)
        finally:
            connections.done()

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(timeout=left)
        return True


class _JobThreads:
    """A few daemon threads serving one job queue, in order of submission; a running job counts as busy for the
    scheduler's `wait_idle` (a stopping process waits for it as for a step)."""

    def __init__(self, scheduler: EmbeddedScheduler, queue_name: str, threads: int):
        self.scheduler = scheduler
        self.queue: queue.SimpleQueue[tuple[str, tuple]] = queue.SimpleQueue()
        for i in range(max(1, threads)):
            threading.Thread(target=self._serve, name=f"swarm-{queue_name}-{i}", daemon=True).start()

    def put(self, name: str, args: tuple) -> None:
        self.queue.put((name, args))

    def _serve(self) -> None:
        while True:
            name, args = self.queue.get()
            if lease.shutting_down.is_set():
                continue
            with self.scheduler.cond:
                self.scheduler.busy += 1
            connections.done()
            try:
                scheduling.run_job(name, args)
            except Exception:
                log.exception("job %s%r crashed", name, args)
            finally:
                connections.done()
                with self.scheduler.cond:
                    self.scheduler.busy -= 1
                    self.scheduler.cond.notify_all()
