"""A model call in flight holds no step slot: one step thread starts many agents' calls, which wait together on the
process's loop (agents/inflight.py), and each call's end saves its turn. The calls in flight still stop when their
step must: the process stopping, the agent stopped by a person, its lease taken by another holder."""

from __future__ import annotations

import asyncio
import time

import pytest

from agents import inflight, lease, llm, runtime, services
from agents.models import Agent
from tests import factories
from tests.openai_server import hang
from tests.real_models import messages_for, profile_for
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(180)


def _launch(demo, count: int) -> list[int]:
    _, template = demo
    roster = [(f"Ant{i:02d}", "sim-diligent") for i in range(count)]
    return [a.pk for a in services.launch_task(factories.task_like(template, roster))]


def _turns(ids: list[int]) -> int:
    return Agent.objects.filter(pk__in=ids, events__kind="model_turn").count()


@pytest.fixture
def slow_model(settings):
    settings.SWARM_SIM_LATENCY = 2.0
    return settings


def test_one_step_thread_has_twenty_slow_model_calls_in_flight_at_once(demo, slow_model):
    ids = _launch(demo, 20)
    started = time.monotonic()
    most = 0
    for pk in ids:  # what the embedded scheduler's single step thread does with twenty due agents
        assert runtime.start_step(pk) is None  # back at once: the call is in flight, the slot is free
        most = max(most, inflight.in_flight())

    def answered() -> bool:
        nonlocal most
        most = max(most, inflight.in_flight())
        return _turns(ids) == 20

    wait_until(answered, "every agent's first model turn", timeout=60)
    took = time.monotonic() - started
    # one call after the other would take 20 x 2 s; together they take about one call and the steps' own work
    assert most >= 10, f"at most {most} calls were in flight at once"
    assert took < 20, f"twenty 2-second calls took {took:.1f} s"
    wait_until(lambda: inflight.in_flight() == 0, "every call's end")
    agents = Agent.objects.filter(pk__in=ids)
    assert all(a.steps == 1 and a.lease_expires_at is None for a in agents)
    assert all(a.status == Agent.Status.RUNNING for a in agents)


def test_the_next_step_runs_the_tool_calls_of_the_answered_turn_without_asking_again(demo):
    (ada,) = _launch(demo, 1)
    assert runtime.start_step(ada) is None
    wait_until(lambda: _turns([ada]) == 1 and inflight.in_flight() == 0, "the model turn")
    assert runtime.start_step(ada) is not None  # the tool half runs in the slot and returns its delay
    agent = Agent.objects.get(pk=ada)
    assert agent.steps == 1 and _turns([ada]) == 1
    assert list(agent.events.filter(kind="tool_call").values_list("payload__tool", flat=True)) == ["list_files"]


def test_agents_on_a_slow_model_keep_stepping_with_one_step_thread(demo, slow_model, embedded):
    ids = _launch(demo, 6)  # the launch kicks them all
    # each model turn asks for tools, run by the next step the call's end schedules, then the model is asked again
    wait_until(lambda: _turns_each(ids) >= 2, "two model turns of every agent", timeout=90)


def _turns_each(ids: list[int]) -> int:
    counts = {pk: 0 for pk in ids}
    for pk in Agent.objects.filter(pk__in=ids, events__kind="model_turn").values_list("pk", flat=True):
        counts[pk] += 1
    return min(counts.values())


def test_sigterm_hands_back_every_agent_whose_model_call_is_in_flight(demo, settings):
    settings.SWARM_SIM_LATENCY = 60.0
    ids = _launch(demo, 5)
    for pk in ids:
        runtime.start_step(pk)
    wait_until(lambda: inflight.in_flight() == 5, "five calls in flight")
    lease.begin_shutdown()  # what SIGTERM does in the web process and in a worker's pool child
    try:
        stopped = time.monotonic()
        assert inflight.drain(10), "calls still in flight 10 s after the shutdown began"
        took = time.monotonic() - stopped
    finally:
        lease.shutting_down.clear()
    assert took < 5, f"handing back took {took:.1f} s"
    for agent in Agent.objects.filter(pk__in=ids):
        assert agent.status == Agent.Status.RUNNING and agent.lease_expires_at is None  # the next start resumes it
        assert agent.events.order_by("seq").last().kind == "handed_back"
        assert agent.steps == 0 and not agent.events.filter(kind="model_turn").exists()


def test_a_person_stopping_an_agent_cancels_its_call_in_flight(demo, settings):
    settings.SWARM_SIM_LATENCY = 60.0
    (ada,) = _launch(demo, 1)
    runtime.start_step(ada)
    wait_until(lambda: inflight.in_flight() == 1, "the call in flight")
    services.stop(Agent.objects.get(pk=ada), "alice")
    wait_until(lambda: inflight.in_flight() == 0, "the call cancelled", timeout=5)
    agent = Agent.objects.get(pk=ada)
    assert agent.status == Agent.Status.STOPPED and agent.steps == 0
    assert not agent.events.filter(kind="model_turn").exists()


def test_a_call_whose_lease_another_holder_took_leaves_no_trace(demo, settings):
    settings.SWARM_SIM_LATENCY = 60.0
    (ada,) = _launch(demo, 1)
    runtime.start_step(ada)
    wait_until(lambda: inflight.in_flight() == 1, "the call in flight")
    held = Agent.objects.get(pk=ada)
    # a stalled holder's lease taken over (what a second worker does after the expiry)
    Agent.objects.filter(pk=ada).update(fencing_token=held.fencing_token + 1, lease_owner="someone-else")
    wait_until(lambda: inflight.in_flight() == 0, "the call cancelled", timeout=5)
    agent = Agent.objects.get(pk=ada)
    assert agent.lease_owner == "someone-else" and agent.lease_expires_at == held.lease_expires_at
    assert agent.steps == 0 and not agent.events.filter(kind__in=["model_turn", "handed_back"]).exists()


def test_past_the_in_flight_cap_a_step_is_handed_back_for_a_moment(demo, settings):
    settings.SWARM_SIM_LATENCY = 60.0
    settings.SWARM_INFLIGHT_PER_PROCESS = 2
    ada, bea, cy = _launch(demo, 3)
    runtime.start_step(ada)
    runtime.start_step(bea)
    wait_until(lambda: inflight.in_flight() == 2, "two calls in flight")
    delay = runtime.start_step(cy)
    assert delay is not None and 0 < delay <= 1  # asked again shortly, not queued here
    third = Agent.objects.get(pk=cy)
    assert third.lease_expires_at is None and third.steps == 0  # not claimed: any process may take it
    for pk in (ada, bea):
        services.stop(Agent.objects.get(pk=pk), "alice")
    wait_until(lambda: inflight.in_flight() == 0, "the calls cancelled", timeout=5)


def test_a_hundred_and_fifty_calls_to_one_model_server_are_in_flight_at_once(server, canary, settings):
    # a fleet on one OpenAI-compatible server: no call waits for another's connection
    settings.SWARM_LLM_STREAM = False
    settings.SWARM_LLM_RETRIES = 0
    count = 150
    server.script(*[hang(60) for _ in range(count)])
    profile = profile_for(server)

    async def every_call():
        return await asyncio.gather(*(llm.acomplete(profile, messages_for(), []) for _ in range(count)))

    answers = inflight.run(every_call())
    wait_until(lambda: len(server.requests) == count, "every request at the server at once")
    server.release()
    assert [turn.content for turn in answers.result(timeout=30)] == ["too late"] * count
