"""A busy fleet, watched: the task overview comes in a few frames a second that leave no card stale, and an agent's
page still gets every event exactly once, in order, one message per transaction.

Driven through the real ASGI application and the in-memory channel layer; events come from the services, broadcast
after commit as in the running app.
"""

from __future__ import annotations

import asyncio
import math
import re
import time

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction

from agents import demo as demo_seed
from agents import events, services
from agents.models import Agent, ModelProfile
from swarm_web.asgi import application
from tests.sockets import TIMEOUT, headers_for, open_agent_socket

pytestmark = pytest.mark.usefixtures("fresh_channel_layer")

CARD = re.compile(r'<article class="card [^"]*" id="agent-(\d+)-card".*?</article>', re.S)
STEP = re.compile(r"step (\d+)")


@pytest.fixture
def fleet(demo):
    """A task of 20 agents (no step of theirs is ever run: the tests write their events)."""
    team, template = demo
    profile = ModelProfile.objects.get(team=team, name="sim-diligent")
    names = [f"Ant{i:02d}" for i in range(20)]
    task = demo_seed.task_like(template, [(n, "sim-diligent") for n in names], title="a busy fleet")
    agents = [
        Agent.objects.create(task=task, name=n, profile=profile, status=Agent.Status.RUNNING, activity="step 0")
        for n in names
    ]
    return task, agents


def step(agent_id: int, n: int) -> None:
    """One step's worth of a busy agent: its turn and its tool call, committed together."""
    services.append_events(
        agent_id,
        [
            ("model_turn", {"text": f"thinking at step {n}"}),
            ("tool_call", {"tool": "read_file", "args": {"path": "README.md"}, "result": f"read at {n}", "ok": True}),
        ],
        activity=f"step {n}",
    )


def test_a_busy_task_overview_comes_in_a_few_frames_that_leave_no_card_stale(fleet, alice):
    task, agents = fleet
    steps = 8
    interval = settings.SWARM_OVERVIEW_INTERVAL
    headers = headers_for(alice)

    @database_sync_to_async
    def work() -> None:
        for n in range(1, steps + 1):
            for agent in agents:
                step(agent.pk, n)

    async def scenario() -> tuple[list[tuple[float, str]], float]:
        comm = WebsocketCommunicator(application, f"/ws/tasks/{task.pk}/", headers=headers)
        connected, code = await comm.connect(timeout=TIMEOUT)
        assert connected, code
        snapshot = await comm.receive_json_from(timeout=TIMEOUT)
        assert len(CARD.findall(snapshot["html"])) == 20
        started = time.monotonic()
        await work()  # 160 transactions, 320 events, as fast as they commit
        frames, shown = [], {}

        def record(html: str) -> None:
            frames.append((time.monotonic(), html))
            shown.update((int(card.group(1)), int(STEP.search(card.group(0)).group(1))) for card in CARD.finditer(html))

        # until every card shows the last step (a sender stalled on a loaded machine may leave the overview quiet for
        # longer than a few intervals before it; a frame that never comes fails here after TIMEOUT)
        while any(shown.get(agent.pk) != steps for agent in agents):
            record((await comm.receive_json_from(timeout=TIMEOUT))["html"])
        while not await comm.receive_nothing(3 * interval + 0.5):  # then until the overview is quiet
            record((await comm.receive_json_from(timeout=TIMEOUT))["html"])
        await comm.disconnect()
        return frames, started

    frames, started = async_to_sync(scenario)()
    seconds = frames[-1][0] - started
    # one frame at once, then at most one every interval (a frame may land early after a late one: one spare)
    assert 2 <= len(frames) <= math.ceil(seconds / interval) + 2, (len(frames), seconds)
    assert len(frames) < 20 * steps / 4  # before coalescing: one frame per transaction
    latest: dict[int, int] = {}
    for _, html in frames:
        assert 'id="attention"' in html  # the strip comes with every frame, once
        assert html.count('id="attention"') == 1
        for card in CARD.finditer(html):
            latest[int(card.group(1))] = int(STEP.search(card.group(0)).group(1))
    assert latest == {a.pk: steps for a in agents}  # every card as it is now after the last frame


def test_an_agent_page_gets_every_event_once_in_order_one_message_per_transaction(fleet, alice):
    task, agents = fleet
    ant = agents[0]
    services.record_event(ant.pk, "status", {"status": "running", "reason": "started"})  # seq 1
    headers = headers_for(alice)

    @database_sync_to_async
    def work() -> None:
        for n in range(1, 26):
            for agent in agents[:4]:  # the others' events interleave with Ant00's, in their own transactions
                step(agent.pk, n)

    async def scenario() -> tuple[list[dict], list[dict]]:
        layer = get_channel_layer()
        listener = await layer.new_channel()  # what Ant00's group is sent, as a socket's channel sees it
        await layer.group_add(events.agent_group(ant.pk), listener)
        comm, replay = await open_agent_socket(headers, ant.pk, after=0)
        assert [m["seq"] for m in replay] == [1]
        await work()
        received = []
        while not received or received[-1]["seq"] != 51:
            received.append(await comm.receive_json_from(timeout=TIMEOUT))
        assert await comm.receive_nothing(0.3)
        messages = []
        while len(messages) < 25:
            messages.append(await asyncio.wait_for(layer.receive(listener), TIMEOUT))
        await comm.disconnect()
        return received, messages

    received, messages = async_to_sync(scenario)()
    assert [m["seq"] for m in received] == list(range(2, 52))  # every event exactly once, in order
    assert all(f'id="event-{ant.pk}-{m["seq"]}"' in m["html"] for m in received)
    # one message per transaction with both its events, and the header with the last of them
    assert [[seq for seq, _ in m["events"]] for m in messages] == [[2 * n, 2 * n + 1] for n in range(1, 26)]
    assert all("agent-header" in m["header"] and "agent-header" in m["header_readonly"] for m in messages)
    assert "agent-header" in received[-1]["html"] and "agent-header" not in received[-2]["html"]


def test_events_of_a_rolled_back_savepoint_are_never_shown_the_rest_of_the_transaction_once(fleet, alice):
    _, agents = fleet
    ant = agents[0]
    services.record_event(ant.pk, "status", {"status": "running", "reason": "started"})  # seq 1
    headers = headers_for(alice)

    @database_sync_to_async
    def work() -> None:
        with transaction.atomic():
            services.record_event(ant.pk, "model_turn", {"text": "kept before"})
            try:
                with transaction.atomic():
                    services.record_event(ant.pk, "model_turn", {"text": "rolled back"})
                    raise RuntimeError("a tool failed")
            except RuntimeError:
                pass
            services.record_event(ant.pk, "model_turn", {"text": "kept after"})

    async def scenario() -> list[dict]:
        comm, _ = await open_agent_socket(headers, ant.pk, after=1)
        await work()
        received = [await comm.receive_json_from(timeout=TIMEOUT) for _ in range(2)]
        assert await comm.receive_nothing(0.5)
        await comm.disconnect()
        return received

    received = async_to_sync(scenario)()
    assert [m["seq"] for m in received] == [2, 3]
    html = "".join(m["html"] for m in received)
    assert html.index("kept before") < html.index("kept after") and "rolled back" not in html
