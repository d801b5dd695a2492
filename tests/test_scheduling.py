"""Scheduling: the embedded backend honours the schedule token as the Celery one does (test_scale_out covers
Celery): an agent's newest kick wins, and a superseded schedule runs no step."""

from __future__ import annotations

import time

from django.utils import timezone

from agents import services
from agents.models import Agent
from agents.scheduling.embedded import EmbeddedScheduler
from tests.factories import task_like

DEADLINE = 60  # seconds; a step on a loaded machine takes well under this
PACE = 30  # seconds to an agent's next step of its own chain: none falls inside a test here
SOON = 3.0  # seconds: a schedule due while the test still watches


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


def test_a_new_kick_supersedes_a_later_schedule_and_the_agent_steps_now(demo, settings):
    settings.SWARM_STEP_DELAY = PACE
    (ada,) = _launch(demo, "Ada")
    scheduler = EmbeddedScheduler(workers=1)
    kicked = time.monotonic()
    scheduler.kick(ada, SOON)  # its next step was due in a few seconds ...
    scheduler.kick(ada, 0)  # ... when a person's message asks for it now
    _wait_for_a_step(ada)
    time.sleep(max(0.0, kicked + SOON + 1.5 - time.monotonic()))  # past the superseded schedule's time
    assert _steps(ada) == 1, "the superseded schedule ran a second step"


def test_the_newest_kick_wins_even_when_it_is_due_later(demo, settings):
    (ada,) = _launch(demo, "Ada")
    scheduler = EmbeddedScheduler(workers=1)
    scheduler.kick(ada, 1.0)  # a step due in a second ...
    scheduler.kick(ada, PACE)  # ... put off by a later kick
    time.sleep(2.5)
    assert _steps(ada) == 0, "the superseded, sooner schedule ran a step"
    waits = (Agent.objects.get(pk=ada).next_step_at - timezone.now()).total_seconds()
    assert PACE - 5 < waits <= PACE  # what the agent's page says: its next step in half a minute


def test_a_superseded_schedule_runs_no_step(demo):
    ada, bea = _launch(demo, "Ada", "Bea")
    Agent.objects.filter(pk=ada).update(schedule_token=5)  # a later kick (say from another process) took token 5
    scheduler = EmbeddedScheduler(workers=1)  # one step thread: the schedules are handled in the order they fall due
    scheduler.schedule(ada, 4, 0)  # the schedule that kick superseded
    scheduler.schedule(bea, Agent.objects.get(pk=bea).schedule_token, 0)
    _wait_for_a_step(bea)
    assert _steps(ada) == 0
