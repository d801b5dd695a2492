"""Distributed mode: one Celery task per step, on any number of workers. A redelivered or stale task is harmless:
`scheduling.run` drops a superseded schedule, and the step's lease and fencing token stop a second holder.

Launched agents' worktrees are made by `agents.prepare` tasks in a few lanes: each task makes one batch, then queues
the rest of its lane, so the queue never holds more than a few of them and the first agents' steps are not queued
behind the whole fleet's preparation. A lost lane is taken up by the sweep (agents.preparation)."""

from __future__ import annotations

import logging

from celery import shared_task
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from agents import broker_watch, scheduling
from agents.scheduling import sweep
from agents.scheduling.base import Scheduler

log = logging.getLogger(__name__)

PREPARE_LANES = 2  # preparation tasks queued at once per launch
PREPARE_BATCH = 25  # worktrees one task makes before it queues the rest of its lane


class CeleryScheduler(Scheduler):
    mode = "distributed"

    def schedule(self, agent_id: int, token: int, delay: float) -> None:
        broker_watch.publish(step, agent_id, token, delay)  # Redis down: a sweep resumes the agent later

    def prepare(self, agent_ids: list[int]) -> None:
        for lane in range(PREPARE_LANES):
            _queue_preparation(agent_ids[lane::PREPARE_LANES])


def _queue_preparation(agent_ids: list[int]) -> None:
    if not agent_ids:
        return
    try:
        prepare.apply_async((agent_ids,))
    except (OperationalError, RedisError, OSError) as exc:  # the launch still answers; a sweep takes them up
        log.warning("could not queue the preparation of %d agent(s) (Redis unreachable: %s)", len(agent_ids), exc)


@shared_task(name="agents.prepare", acks_late=True, reject_on_worker_lost=True)
def prepare(agent_ids: list[int]) -> None:
    left = scheduling.run_preparation(agent_ids[:PREPARE_BATCH])  # the worker stopping: for another worker
    _queue_preparation(left + agent_ids[PREPARE_BATCH:])


@shared_task(name="agents.step", acks_late=True, reject_on_worker_lost=True)
def step(agent_id: int, token: int | None = None) -> None:
    scheduling.run(agent_id, token)


@shared_task(name="agents.sweep")
def sweep_lost_steps() -> int:
    return sweep.resume_orphans()
