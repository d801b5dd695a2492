"""Distributed mode: one Celery task per step, on any number of workers. A redelivered or stale task is harmless:
`scheduling.run` drops a superseded schedule, and the step's lease and fencing token stop a second holder.

A lane job (`register_job(..., lane=True)`: a launch's worktree preparation, minutes of git) runs on a lane thread
of the pool child that received it, LANE_THREADS per child, and its task returns at once: two preparation lanes
held two of a `make worker`'s four slots for minutes, and the fleet's steps queued behind them."""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from celery import shared_task

from agents import broker_watch, connections, scheduling
from agents.scheduling import sweep
from agents.scheduling.base import Scheduler


class CeleryScheduler(Scheduler):
    mode = "distributed"

    def schedule(self, agent_id: int, token: int, delay: float, holder: str = "") -> None:
        # to the queue of the worker whose disk holds the agent's worktree, if one does; Redis down: a sweep resumes
        # the agent later
        broker_watch.publish(step, agent_id, token, delay, queue=scheduling.worker_queue(holder) if holder else None)

    def submit(self, name: str, queue: str, args: tuple, delay: float = 0.0) -> bool:
        # Redis down: the job's owner recovers it at a sweep (verification: judges' sweeping receiver)
        return broker_watch.publish_job(job, name, args, queue, delay)


@shared_task(name="agents.step", acks_late=True, reject_on_worker_lost=True)
def step(agent_id: int, token: int | None = None) -> None:
    try:
        scheduling.run(agent_id, token)
    finally:
        connections.done()


@shared_task(name="swarm.job", acks_late=True, reject_on_worker_lost=True)
def job(name: str, *args) -> None:
    if scheduling.in_lane(name):
        _lanes().submit(_run_in_lane, name, args)
        return
    try:
        scheduling.run_job(name, args)
    finally:
        connections.done()


LANE_THREADS = 1  # lane jobs running at once in one pool child (a launch queues scheduling.PREPARE_LANES of them)
log = logging.getLogger(__name__)
_lane_pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid, its threads): a forked child makes its own
_lane_cond = threading.Condition()
_lane_jobs = 0  # lane jobs taken and not over yet, in this process


def _lanes() -> ThreadPoolExecutor:
    global _lane_pool, _lane_cond, _lane_jobs
    with _lane_cond:
        if _lane_pool is None or _lane_pool[0] != os.getpid():
            _lane_pool = (os.getpid(), ThreadPoolExecutor(LANE_THREADS, thread_name_prefix="swarm-lane"))
        _lane_jobs += 1
        return _lane_pool[1]


def _run_in_lane(name: str, args: tuple) -> None:
    global _lane_jobs
    try:
        scheduling.run_job(name, args)
    except Exception:  # its owner's sweep finds the work undone
        log.exception("job %s%r crashed", name, args)
    finally:
        connections.done()
        with _lane_cond:
            _lane_jobs -= 1
            _lane_cond.notify_all()


def wait_for_lanes(timeout: float) -> bool:
    """Wait until this process's lane jobs are over (a stopping one's hand the rest of their lane back to the queue
    at the next agent); False when time ran out."""
    with _lane_cond:
        return _lane_cond.wait_for(lambda: _lane_jobs == 0, timeout=timeout)


@shared_task(name="agents.sweep")
def sweep_lost_steps() -> int:
    try:
        return sweep.resume_orphans()
    finally:
        connections.done()  # Celery's fixup leaves the task thread's connection alone (CELERY_DB_REUSE_MAX)
