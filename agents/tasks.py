"""Thin Celery wrappers: take a primary key, call the runtime."""

from __future__ import annotations

from celery import shared_task

from agents import executor, runtime


@shared_task(name="agents.step", acks_late=True, reject_on_worker_lost=True)
def step(agent_id: int, token: int | None = None) -> None:
    if not executor.is_current(agent_id, token):
        return  # superseded by a later schedule: that one runs the step
    executor.after_step(agent_id, runtime.run_step(agent_id))


@shared_task(name="agents.sweep")
def sweep() -> int:
    return executor.resume_orphans()
