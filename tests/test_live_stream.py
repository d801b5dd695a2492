"""The live transcript over websockets: who may watch, replay on reconnect, and every event exactly once, in order.

Each test drives the real ASGI application (Origin check, session auth, routing, consumers) with channels'
WebsocketCommunicator and the in-memory channel layer. Events come from the services and the runtime, whose
broadcasts go out after commit, as they do in the running app.
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents import events, services
from agents.models import Agent, Event
from swarm_web.asgi import application
from tests import factories
from tests.sockets import TIMEOUT, headers_for, open_agent_socket
from tests.unit import builders

pytestmark = pytest.mark.usefixtures("fresh_channel_layer")


async def receive_until(comm: WebsocketCommunicator, last_seq: int) -> list[dict]:
    got = []
    while not got or got[-1]["seq"] is None or got[-1]["seq"] < last_seq:
        got.append(await comm.receive_json_from(timeout=TIMEOUT))
    return got


def seqs(messages: list[dict]) -> list[int]:
    return [m["seq"] for m in messages if m["seq"] is not None]


record = database_sync_to_async(services.record_event)
append = database_sync_to_async(services.append_events)
step = database_sync_to_async(factories.run_step)
broadcast = database_sync_to_async(events.broadcast_events)


@database_sync_to_async
def last_seq_of(agent_id: int) -> int:
    return Agent.objects.values_list("next_seq", flat=True).get(pk=agent_id) - 1


def test_reconnect_replays_missed_events_exactly_once_in_order(launched, alice):
    agents = launched
    ada = agents["Ada"]
    headers = headers_for(alice)

    async def scenario() -> tuple[list[dict], int]:
        received: list[dict] = []
        comm, replay = await open_agent_socket(headers, ada.pk, after=0)
        received += replay
        assert seqs(replay) == [1]  # "started on branch ..."
        for i in range(3):
            await record(ada.pk, "model_turn", {"text": f"thinking aloud {i}"})
        received += await receive_until(comm, 4)

        await comm.disconnect()  # the browser loses its connection
        last_seen = seqs(received)[-1]
        assert await step(ada.pk) is not None  # Ada keeps working while nobody watches
        assert await step(ada.pk) is not None
        missed_upto = await last_seq_of(ada.pk)
        assert missed_upto > last_seen

        comm, replay = await open_agent_socket(headers, ada.pk, after=last_seen)
        assert seqs(replay) == list(range(last_seen + 1, missed_upto + 1))
        received += replay
        for i in range(3):
            await record(ada.pk, "model_turn", {"text": f"back online {i}"})
        total = await last_seq_of(ada.pk)
        received += await receive_until(comm, total)
        assert await comm.receive_nothing(0.3)
        await comm.disconnect()
        return received, total

    received, total = async_to_sync(scenario)()
    assert seqs(received) == list(range(1, total + 1))
    assert total >= 11
    kinds = list(Event.objects.filter(agent=ada).order_by("seq").values_list("kind", flat=True))
    assert "tool_call" in kinds  # the missed part includes real steps, not only hand-made events
    html = "".join(m["html"] for m in received)
    assert "back online 2" in html and "list_files" in html


def test_an_agent_nobody_watches_is_not_rendered_and_a_page_opened_later_misses_nothing(launched, alice):
    """Most agents of a large fleet are on nobody's screen: their commits read one id (the overview's mark) and render
    nothing. Whoever opens the page afterwards gets every event from the log and the header as it is now."""
    ada = launched["Ada"]
    with CaptureQueriesContext(connection) as unwatched:
        events.broadcast_events(ada.pk, [1])
    assert len(unwatched.captured_queries) == 1 and "agents_event" not in unwatched.captured_queries[0]["sql"]
    factories.run_step(ada.pk)  # a model turn and its tool calls, committed while nobody watches
    factories.run_step(ada.pk)
    ada.refresh_from_db()

    headers = headers_for(alice)

    async def scenario() -> list[dict]:
        comm = WebsocketCommunicator(application, f"/ws/agents/{ada.pk}/?after=0", headers=headers)
        assert (await comm.connect(timeout=TIMEOUT))[0]
        got = [await comm.receive_json_from(timeout=TIMEOUT)]
        while got[-1]["seq"] is not None:  # the replay, then the header as it is now
            got.append(await comm.receive_json_from(timeout=TIMEOUT))
        await comm.disconnect()
        return got

    *replay, header = async_to_sync(scenario)()
    assert seqs(replay) == list(range(1, ada.next_seq))
    assert "list_files" in "".join(m["html"] for m in replay)
    assert ada.steps >= 1 and f"<span>{ada.steps} step" in header["html"]  # the header counts the unwatched steps

    with CaptureQueriesContext(connection) as watched:
        builders.while_watched(events.agent_group(ada.pk), lambda: events.broadcast_events(ada.pk, [1]))
    assert any("agents_event" in q["sql"] for q in watched.captured_queries), "a watched agent's events are read"


def test_live_events_recorded_during_the_replay_are_sent_once(launched, alice):
    agents = launched
    grace = agents["Grace"]
    headers = headers_for(alice)
    # more than one replay batch already in the log when the browser connects
    services.append_events(grace.pk, [("model_turn", {"text": f"earlier {i}"}) for i in range(520)])

    async def keep_working():
        for i in range(30):
            await record(grace.pk, "model_turn", {"text": f"meanwhile {i}"})
            await asyncio.sleep(0)

    async def scenario() -> tuple[list[dict], int]:
        writer = asyncio.ensure_future(keep_working())
        comm, replay = await open_agent_socket(headers, grace.pk, after=0)
        await writer
        total = await last_seq_of(grace.pk)
        live = await receive_until(comm, total) if seqs(replay)[-1] < total else []
        assert await comm.receive_nothing(0.3)
        await comm.disconnect()
        return replay + live, total

    received, total = async_to_sync(scenario)()
    assert total == 1 + 520 + 30
    assert seqs(received) == list(range(1, total + 1))


def test_a_late_broadcast_of_events_already_sent_is_dropped(launched, alice):
    agents = launched
    ada = agents["Ada"]
    services.record_event(ada.pk, "model_turn", {"text": "first thought"})
    headers = headers_for(alice)

    async def scenario() -> list[dict]:
        comm, replay = await open_agent_socket(headers, ada.pk, after=0)
        assert seqs(replay) == [1, 2]
        await broadcast(ada.pk, [1, 2])  # a slow worker's broadcast arrives after the replay sent them
        assert await comm.receive_nothing(0.3)
        await record(ada.pk, "model_turn", {"text": "second thought"})
        live = await receive_until(comm, 3)
        await comm.disconnect()
        return replay + live

    assert seqs(async_to_sync(scenario)()) == [1, 2, 3]


def test_a_gap_in_the_live_broadcast_is_filled_from_the_log(launched, alice):
    agents = launched
    ada = agents["Ada"]
    headers = headers_for(alice)

    @database_sync_to_async
    def log_without_broadcast(texts: list[str]) -> list[int]:
        # as if these broadcasts were lost (a full channel layer drops messages, RELIABILITY 5)
        start = Agent.objects.get(pk=ada.pk).next_seq
        Event.objects.bulk_create(
            Event(agent_id=ada.pk, seq=start + i, kind="model_turn", payload={"text": t}) for i, t in enumerate(texts)
        )
        Agent.objects.filter(pk=ada.pk).update(next_seq=start + len(texts))
        return [start + i for i in range(len(texts))]

    async def scenario() -> list[dict]:
        comm, replay = await open_agent_socket(headers, ada.pk, after=0)
        assert seqs(replay) == [1]
        lost = await log_without_broadcast(["lost one", "lost two"])
        assert lost == [2, 3]
        await record(ada.pk, "model_turn", {"text": "this one got through"})
        live = await receive_until(comm, 4)
        assert await comm.receive_nothing(0.3)
        await comm.disconnect()
        return replay + live

    received = async_to_sync(scenario)()
    assert seqs(received) == [1, 2, 3, 4]
    html = "".join(m["html"] for m in received)
    assert html.index("lost one") < html.index("lost two") < html.index("this one got through")


def test_a_broadcast_the_log_does_not_hold_is_not_forwarded(launched, alice):
    """A message on the agent's group whose seq runs ahead of the log (another deployment's agent of the same id on a
    shared Redis, a forged message) is dropped: forwarded, it would make the browser skip the real events up to it."""
    ada = launched["Ada"]
    headers = headers_for(alice)

    async def scenario() -> list[dict]:
        comm, replay = await open_agent_socket(headers, ada.pk, after=0)
        assert seqs(replay) == [1]
        layer = get_channel_layer()
        foreign = {"type": "agent.event", "seq": 40, "html": '<li class="event" id="event-x-40">not ours</li>'}
        await layer.group_send(events.agent_group(ada.pk), foreign)
        assert await comm.receive_nothing(0.3)
        await record(ada.pk, "model_turn", {"text": "ours"})
        live = await receive_until(comm, 2)
        await comm.disconnect()
        return replay + live

    received = async_to_sync(scenario)()
    assert seqs(received) == [1, 2]
    assert "not ours" not in "".join(m["html"] for m in received)


def test_anonymous_socket_is_refused_before_accept(launched):
    agents = launched

    async def scenario():
        comm = WebsocketCommunicator(application, f"/ws/agents/{agents['Ada'].pk}/", headers=headers_for(None))
        connected, code = await comm.connect(timeout=TIMEOUT)
        assert await comm.receive_nothing(0.2)
        await comm.disconnect()
        return connected, code

    connected, code = async_to_sync(scenario)()
    assert connected is False
    assert code == 4403


def test_stranger_cannot_watch_an_agent(launched, mallory):
    agents = launched
    ada = agents["Ada"]
    services.record_event(ada.pk, "model_turn", {"text": "private reasoning"})
    missing = Agent.objects.order_by("-pk").first().pk + 1000
    headers = headers_for(mallory)

    async def attempt(path: str) -> tuple[bool, int, list]:
        comm = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await comm.connect(timeout=TIMEOUT)
        # and nothing leaks afterwards, not even the live events of the agent
        await record(ada.pk, "model_turn", {"text": "more private reasoning"})
        leaked = []
        while not await comm.receive_nothing(0.3):
            leaked.append(await comm.receive_output(TIMEOUT))
        await comm.disconnect()
        return connected, code, leaked

    for path in (f"/ws/agents/{ada.pk}/?after=0", f"/ws/agents/{missing}/", f"/ws/tasks/{ada.task_id}/"):
        connected, code, leaked = async_to_sync(attempt)(path)
        assert (connected, code) == (False, 4404), path
        assert leaked == [], path


def test_socket_from_a_foreign_origin_is_refused(launched, alice):
    agents = launched

    async def scenario(headers):
        comm = WebsocketCommunicator(application, f"/ws/agents/{agents['Ada'].pk}/", headers=headers)
        connected, _ = await comm.connect(timeout=TIMEOUT)
        leaked = not await comm.receive_nothing(0.2)
        await comm.disconnect()
        return connected, leaked

    assert async_to_sync(scenario)(headers_for(alice, origin="https://evil.example")) == (False, False)
    assert async_to_sync(scenario)(headers_for(alice)) == (True, True)  # control: same user, our origin


ORIGINS = [
    # (Origin, Host the browser connected to, opens?)
    ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
    ("http://localhost", "localhost", True),
    ("http://localhost:80", "localhost", True),  # the default port, written out
    ("http://127.0.0.1:9999", "127.0.0.1:8000", False),  # another port on our host
    ("https://127.0.0.1:8000", "127.0.0.1:8000", False),  # another scheme
    ("http://127.0.0.1.evil.com:8000", "127.0.0.1:8000", False),
    ("http://evil.example:8000", "evil.example:8000", False),  # same-origin, but not one of ALLOWED_HOSTS
    ("null", "127.0.0.1:8000", False),
    (None, "127.0.0.1:8000", False),
]


@pytest.mark.parametrize("origin, host, opens", ORIGINS)
def test_a_socket_opens_only_for_this_sites_exact_origin(launched, alice, origin, host, opens):
    agents = launched
    headers = [h for h in headers_for(alice, origin=origin or "", host=host) if origin or h[0] != b"origin"]

    async def scenario():
        comm = WebsocketCommunicator(application, f"/ws/agents/{agents['Ada'].pk}/", headers=headers)
        connected, code = await comm.connect(timeout=TIMEOUT)
        await comm.disconnect()
        return connected, code

    connected, code = async_to_sync(scenario)()
    assert connected is opens, (origin, host, code)
    if not opens:
        assert code != 4403  # refused by the origin check in front of the consumer, before any accept()


def test_the_hosts_only_check_channels_ships_would_let_other_ports_and_schemes_in():
    """Positive control for the test above: channels' AllowedHostsOriginValidator matches hosts only."""
    from urllib.parse import urlparse

    from channels.security.websocket import AllowedHostsOriginValidator

    channels_check = AllowedHostsOriginValidator(None)
    for origin in ("http://127.0.0.1:9999", "https://127.0.0.1:8000"):
        assert channels_check.valid_origin(urlparse(origin)), origin


def test_an_exact_trusted_origin_opens_a_socket_behind_a_proxy(launched, alice, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://swarm.example.com"]
    agents = launched
    cookie = [h for h in headers_for(alice) if h[0] == b"cookie"]

    async def scenario(origin):
        headers = [(b"host", b"127.0.0.1:8000"), (b"origin", origin.encode()), *cookie]  # the proxy's own Host
        comm = WebsocketCommunicator(application, f"/ws/agents/{agents['Ada'].pk}/", headers=headers)
        connected, _ = await comm.connect(timeout=TIMEOUT)
        await comm.disconnect()
        return connected

    assert async_to_sync(scenario)("https://swarm.example.com") is True
    assert async_to_sync(scenario)("https://swarm.example.com:8443") is False
    assert async_to_sync(scenario)("http://swarm.example.com") is False


def test_task_socket_sends_a_card_for_every_agent_on_connect(demo, launched, alice):
    _, task = demo
    agents = launched
    services.set_status(agents["Linus"].pk, Agent.Status.PAUSED, "tokens budget used up")
    headers = headers_for(alice)

    async def scenario() -> tuple[dict, dict]:
        comm = WebsocketCommunicator(application, f"/ws/tasks/{task.pk}/", headers=headers)
        connected, code = await comm.connect(timeout=TIMEOUT)
        assert connected, code
        snapshot = await comm.receive_json_from(timeout=TIMEOUT)
        await record(agents["Ada"].pk, "model_turn", {"text": "reading mathutil.py"}, activity="reading mathutil.py")
        update = await comm.receive_json_from(timeout=TIMEOUT)
        while "reading mathutil.py" not in update["html"]:  # past a frame of the launch's cards still on its way
            update = await comm.receive_json_from(timeout=TIMEOUT)
        await comm.disconnect()
        return snapshot, update

    snapshot, update = async_to_sync(scenario)()
    assert snapshot["seq"] is None
    for agent in agents.values():
        assert f'id="agent-{agent.pk}-card"' in snapshot["html"], agent.name
        assert agent.name in snapshot["html"]
    assert snapshot["html"].count('class="card ') == 8
    assert 'data-status="paused"' in snapshot["html"]  # state from the server, as it is now
    assert f'id="agent-{agents["Ada"].pk}-card"' in update["html"]
    assert "reading mathutil.py" in update["html"]
