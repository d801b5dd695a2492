"""Messages injected mid-step, in each mode, land exactly once where the mode says (a real model server)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from django.db import close_old_connections

from agents import conversations, services
from agents.models import Agent, Message
from tests import factories
from tests.openai_server import reply
from tests.real_models import launch_one


@pytest.fixture(autouse=True)
def quick(settings, monkeypatch):
    monkeypatch.setenv("SWARM_TEST_KEY", "test-key-modes")
    settings.SWARM_LLM_RETRIES = 0
    settings.SWARM_LLM_TIMEOUT = 10


def _step_in_background(agent_id: int) -> tuple[threading.Thread, list]:
    result: list = []

    def run():
        close_old_connections()
        try:
            result.append(factories.run_step(agent_id))
        finally:
            close_old_connections()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def _wait_for(predicate, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _injected(agent: Agent) -> list[str]:
    agent.refresh_from_db()
    return [
        m["content"] for m in conversations.load(agent.pk) if m["role"] == "user" and "[Message from" in m["content"]
    ]


# a command that runs until the test opens its gate (a file in the worktree; 30 s at most): the message is sent
# while it runs, however slowly this machine gets there (a fixed `sleep 1.5` could end before the message was sent)
GATED = 'i=0; while [ ! -e gate-open ] && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i+1)); done; echo slept'


def _open_gate(agent: Agent) -> None:
    Path(Agent.objects.get(pk=agent.pk).worktree, "gate-open").touch()


def _slow_turn(server):
    # one turn, two calls: a command that runs until the test opens its gate, then a listing
    server.script(
        reply("Checking.", ("run_command", {"command": GATED}), ("list_files", {"path": "."})),
        reply("Understood, doing that.", ("list_files", {"path": "."})),
    )


def test_a_queued_message_waits_for_the_next_step(demo, server, alice):
    agent = launch_one(demo, server)
    _slow_turn(server)
    thread, _ = _step_in_background(agent.pk)
    _wait_for(lambda: agent.events.filter(kind="model_turn").exists())
    message = services.inject_message(agent, "Queue: look at clamp() too.", author=alice, mode="queue")
    _open_gate(agent)  # sent while the command runs
    thread.join(40)
    calls = [e.payload["tool"] for e in agent.events.filter(kind="tool_call")]
    assert calls == ["run_command", "list_files"]  # the step finished as planned
    message.refresh_from_db()
    assert message.state == Message.State.QUEUED
    factories.run_step(agent.pk)
    assert _injected(agent) == ["[Message from alice] Queue: look at clamp() too."]
    message.refresh_from_db()
    assert message.state == Message.State.ANSWERED
    assert "Queue: look at clamp() too." in server.requests[-1].raw


def test_a_steer_message_lands_at_the_next_tool_boundary(demo, server, alice):
    agent = launch_one(demo, server)
    _slow_turn(server)
    thread, result = _step_in_background(agent.pk)
    _wait_for(lambda: agent.events.filter(kind="model_turn").exists())
    message = services.inject_message(agent, "Steer: stop listing, read mathutil.py.", author=alice, mode="steer")
    _open_gate(agent)  # sent while the command runs: it lands at the boundary after it
    thread.join(40)
    calls = [e.payload["tool"] for e in agent.events.filter(kind="tool_call")]
    assert calls == ["run_command"]  # the listing after the boundary was not run
    steered = agent.events.get(kind="steered")
    assert steered.payload["skipped"] == ["list_files"]
    assert result == [0.0]  # the next step comes at once, to take the message
    factories.run_step(agent.pk)
    assert _injected(agent) == ["[Message from alice] Steer: stop listing, read mathutil.py."]
    assert agent.events.filter(kind="message_delivered", payload__message_id=message.pk).count() == 1
    message.refresh_from_db()
    assert message.state == Message.State.ANSWERED and message.mode == "steer"


def test_an_interrupt_cancels_the_model_call_in_flight_and_is_delivered_now(demo, server, alice, settings):
    settings.SWARM_LLM_STREAM = True  # a reply streamed slowly, chunk by chunk: the call is long in flight
    agent = launch_one(demo, server)
    server.script(
        reply("A very slow answer that nobody will read " * 4, chunk_size=8, pause=1.5),
        reply("Interrupted; reading mathutil.py as asked.", ("read_file", {"path": "mathutil.py"})),
    )
    thread, result = _step_in_background(agent.pk)
    _wait_for(lambda: len(server.requests) >= 1)
    started = time.monotonic()
    message = services.inject_message(agent, "Interrupt: read mathutil.py now.", author=alice, mode="interrupt")
    thread.join(40)
    # far less than the slow stream would have taken (21 chunks, 1.5 s apart: 30 s)
    assert time.monotonic() - started < 12
    assert result == [0.0]
    assert agent.events.filter(kind="interrupted", payload__what="model call").exists()
    assert not agent.events.filter(kind="model_turn").exists()  # the abandoned answer left no trace
    # the call was aborted, not left to run on: the server saw its client go, and no answer came to be billed
    _wait_for(lambda: server.dropped == 1, seconds=20)
    assert Agent.objects.get(pk=agent.pk).tokens_in == 0
    factories.run_step(agent.pk)
    assert _injected(agent) == ["[Message from alice] Interrupt: read mathutil.py now."]
    assert [e.payload["tool"] for e in agent.events.filter(kind="tool_call")] == ["read_file"]
    message.refresh_from_db()
    assert message.state == Message.State.ANSWERED


def test_an_interrupt_kills_the_command_in_flight_and_is_delivered_now(demo, server, alice):
    agent = launch_one(demo, server)
    server.script(
        reply(
            "Running the slow suite.",
            ("run_command", {"command": "touch running; sleep 60; echo never"}),
            ("list_files", {}),
        ),
        reply("Stopped the slow run as asked.", ("read_file", {"path": "mathutil.py"})),
    )
    thread, result = _step_in_background(agent.pk)
    _wait_for(lambda: agent.events.filter(kind="model_turn").exists())
    running = Path(Agent.objects.get(pk=agent.pk).worktree, "running")
    _wait_for(running.exists, seconds=30)  # the command is running now
    started = time.monotonic()
    message = services.inject_message(agent, "Interrupt: stop that, it hangs.", author=alice, mode="interrupt")
    thread.join(70)
    assert time.monotonic() - started < 15  # not the 60 s the command wanted
    command = agent.events.get(kind="tool_call", payload__tool="run_command")
    assert command.payload["command"]["exit_code"] == 130
    assert "interrupted" in command.payload["result"]
    assert agent.events.filter(kind="interrupted", payload__what="command").exists()
    assert not agent.events.filter(kind="tool_call", payload__tool="list_files").exists()
    assert result == [0.0]
    factories.run_step(agent.pk)
    assert _injected(agent) == ["[Message from alice] Interrupt: stop that, it hangs."]
    message.refresh_from_db()
    assert message.state == Message.State.ANSWERED
