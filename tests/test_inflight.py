"""A model call or a sandboxed command in flight holds no step slot: one step thread starts many agents' calls, which
wait together on the process's loop (agents/inflight.py), and each call's end saves its turn. The calls in flight
still stop when their step must: the process stopping, the agent stopped by a person, its lease taken by another
holder; a command stopped so is killed with everything it started."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time

import pytest
from django.db import close_old_connections

from agents import inflight, lease, llm, runtime, services
from agents.models import Agent
from tests import factories
from tests.openai_server import hang, reply
from tests.real_models import launch_one, messages_for, profile_for
from tests.sandboxes import gone_within, processes_with
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
    # 5-second calls: starting twenty steps may take seconds on a loaded machine, and the first calls must still be
    # in flight when the tenth starts (with 2 s, a slow start let the first ones end before)
    slow_model.SWARM_SIM_LATENCY = 5.0
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

    wait_until(answered, "every agent's first model turn", timeout=90)
    took = time.monotonic() - started
    # one call after the other would take 20 x 5 s; together they take about one call and the steps' own work
    assert most >= 10, f"at most {most} calls were in flight at once"
    assert took < 50, f"twenty 5-second calls took {took:.1f} s"
    assert inflight.drain(30), "the calls' ends (the turns' tool calls with them) were not over in 30 s"
    agents = Agent.objects.filter(pk__in=ids)
    assert all(a.steps == 1 and a.lease_expires_at is None for a in agents)
    assert all(a.status == Agent.Status.RUNNING for a in agents)


def test_the_tool_calls_of_the_answered_turn_run_at_its_end_in_the_same_step(demo):
    (ada,) = _launch(demo, 1)
    assert runtime.start_step(ada) is None
    wait_until(lambda: _turns([ada]) == 1 and inflight.in_flight() == 0, "the model turn")

    def tools_ran() -> bool:
        return Agent.objects.get(pk=ada).events.filter(kind="tool_call").exists()

    wait_until(tools_ran, "its tool call")  # nobody ran another step: the turn's end carried it out
    agent = Agent.objects.get(pk=ada)
    assert agent.steps == 1 and _turns([ada]) == 1 and agent.lease_expires_at is None
    assert list(agent.events.filter(kind="tool_call").values_list("payload__tool", flat=True)) == ["list_files"]
    assert agent.elapsed_seconds > 0  # the step's end was written once, with the tool call


def test_a_turn_with_a_command_leaves_its_calls_to_the_next_step_which_does_not_ask_again(demo):
    (ada,) = _launch(demo, 1)
    agent = Agent.objects.get(pk=ada)
    agent.profile.model = "sim/investigator"  # its first turn runs the test suite
    agent.profile.save()
    assert runtime.start_step(ada) is None
    wait_until(lambda: _turns([ada]) == 1 and inflight.in_flight() == 0, "the model turn")
    agent = Agent.objects.get(pk=ada)
    assert not agent.events.filter(kind="tool_call").exists() and agent.lease_expires_at is None
    assert runtime.start_step(ada) is None  # the command goes in flight: the slot is free at once
    wait_until(lambda: Agent.objects.get(pk=ada).events.filter(kind="tool_call").exists(), "the command's end")
    assert _turns([ada]) == 1  # not asked again
    assert agent.events.get(kind="tool_call").payload["tool"] == "run_command"


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
        # the calls take 60 s: handed back within 30, they were cancelled, not waited for (a tighter bound would
        # time the continuation threads' writes on a loaded machine)
        assert inflight.drain(30), "calls still in flight 30 s after the shutdown began"
    finally:
        lease.shutting_down.clear()
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
    wait_until(lambda: inflight.in_flight() == 0, "the call cancelled", timeout=30)  # the call takes 60 s
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
    wait_until(lambda: inflight.in_flight() == 0, "the call cancelled", timeout=30)  # the call takes 60 s
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
    wait_until(lambda: inflight.in_flight() == 0, "the calls cancelled", timeout=30)  # the calls take 60 s


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


@pytest.fixture
def on_server(server, monkeypatch, settings):
    """Agents on the local model server, whose calls fail fast once its script runs out."""
    monkeypatch.setenv("SWARM_TEST_KEY", "test-key-inflight")
    settings.SWARM_LLM_RETRIES = 0
    return server


def _a_long_command(server) -> str:
    """The server's next answer asks for a sandboxed command that sleeps; its marker names its processes."""
    marker = f"slept-{secrets.token_hex(4)}"
    server.script(reply("Running the slow suite.", ("run_command", {"command": f"sleep 60; echo {marker}"})), hang(60))
    return marker


def test_an_agent_in_a_long_command_does_not_hold_the_one_step_thread(demo, on_server, slow_model, embedded):
    team, template = demo
    profile_for(on_server, team=team)
    settings = slow_model
    settings.SWARM_SIM_LATENCY = 0.5
    marker = _a_long_command(on_server)
    task = factories.task_like(template, [("Slow", "test-openai"), ("Quick", "sim-diligent")])
    slow, quick = services.launch_task(task)  # the launch kicks both; the embedded scheduler has one step thread
    wait_until(lambda: processes_with(marker), "the slow agent's command running in its sandbox", timeout=30)
    before = _turns([quick.pk])
    # the simulated agent goes on stepping while the command sleeps: two more model turns, each with its tool call
    wait_until(lambda: _turns([quick.pk]) >= before + 2, "two more turns of the other agent", timeout=40)
    assert processes_with(marker), "the command ended before the other agent had stepped"
    assert not Agent.objects.get(pk=slow.pk).events.filter(kind="tool_call").exists()


def test_a_person_stopping_an_agent_mid_command_kills_its_sandbox(demo, on_server):
    agent = launch_one(demo, on_server)
    marker = _a_long_command(on_server)
    returned: list = []

    def step() -> None:
        try:
            returned.append(factories.run_step(agent.pk))  # the model turn, then the command (waited for here)
        finally:
            close_old_connections()

    stepping = threading.Thread(target=step)
    stepping.start()
    wait_until(lambda: processes_with(marker), "the command running in its sandbox", timeout=30)
    services.stop(Agent.objects.get(pk=agent.pk), "alice")
    assert gone_within(marker, 20), "the stopped agent's command still runs"  # it sleeps 60 s
    stepping.join(30)
    assert not stepping.is_alive() and returned == [None]
    agent.refresh_from_db()
    assert agent.status == Agent.Status.STOPPED
    assert not agent.events.filter(kind="tool_call").exists()  # killed mid-run: nothing of it was saved
    assert inflight.in_flight() == 0
