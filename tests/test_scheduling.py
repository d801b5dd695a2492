"""Scheduling: the embedded backend honours the schedule token as the Celery one does (test_scale_out covers
Celery): an agent's newest kick wins, and a superseded schedule runs no step."""

from __future__ import annotations

import time

from agents import services
from agents.models import Agent
from agents.scheduling.embedded import EmbeddedScheduler
from tests.factories import task_like

DEADLINE = 60  # seconds; a step on a loaded machine takes well under this


def _launch(demo, *names: str) -> list[int]:
    _, task = demo
    agents = services.launch_task(task_like(task, [(name, "sim-diligent") for name in names]))
    return [a.pk for a in agents]


def _steps(agent_id: int) -> int:
    return Agent.objects.values_list("steps", flat=True).get(pk=agent_id)


def _wait_for_a_step(agent_id: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while _steps(agent_id) == 0:
        assert time.monotonic() < deadline, f"agent {agent_id} took no step in {DEADLINE} s"
        time.sleep(0.05)


def test_a_new_kick_supersedes_a_later_schedule_and_the_agent_steps_now(demo):
    (ada,) = _launch(demo, "Ada")
    scheduler = EmbeddedScheduler(workers=1)
    scheduler.kick(ada, 3600)  # e.g. a long wait before its next step
    scheduler.kick(ada, 0)  # then a person's message: the step runs now, not in an hour
    _wait_for_a_step(ada)


def test_a_superseded_schedule_runs_no_step(demo):
    ada, bea = _launch(demo, "Ada", "Bea")
    Agent.objects.filter(pk=ada).update(schedule_token=5)  # a later kick (say from another process) took token 5
    scheduler = EmbeddedScheduler(workers=1)  # one step thread: the schedules are handled in the order they fall due
    scheduler.schedule(ada, 4, 0)  # the schedule that kick superseded
    scheduler.schedule(bea, Agent.objects.get(pk=bea).schedule_token, 0)
    _wait_for_a_step(bea)
    assert _steps(ada) == 0
