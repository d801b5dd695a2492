"""Per-account caps (RELIABILITY 15): one account's websockets and writes a minute are capped; other accounts are not
affected. In this process's memory here; across processes through real Redis in tests/test_caps_live.py."""

from __future__ import annotations

import json
import socket

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from agents import services
from agents.models import ApiToken, Message
from swarm_web.asgi import application
from swarm_web.caps import CLOSE_TOO_MANY_SOCKETS
from tests.sockets import TIMEOUT, headers_for
from tests.waiting import minute_left

pytestmark = pytest.mark.usefixtures("fresh_channel_layer")


@pytest.fixture
def launched_task(demo):
    _, task = demo
    return task, {a.name: a for a in services.launch_task(task)}


async def _open(headers, path: str) -> tuple[WebsocketCommunicator, bool, int | None]:
    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await comm.connect(timeout=TIMEOUT)
    return comm, connected, code


def test_sockets_past_the_cap_are_closed_with_4429_and_other_accounts_are_not(launched_task, alice, bob, settings):
    settings.SWARM_WS_PER_USER = 2
    task, agents = launched_task
    path = f"/ws/tasks/{task.pk}/"
    as_alice, as_bob = headers_for(alice), headers_for(bob)
    missing = max(a.pk for a in agents.values()) + 1000

    async def scenario():
        mine = []
        for _ in range(2):
            comm, connected, code = await _open(as_alice, path)
            assert connected, code
            await comm.receive_json_from(timeout=TIMEOUT)  # the cards
            mine.append(comm)
        extra, connected, _ = await _open(as_alice, path)
        assert connected  # accepted, so the browser gets a close code it can show, then closed at once
        closed = await extra.receive_output(TIMEOUT)
        assert closed == {"type": "websocket.close", "code": CLOSE_TOO_MANY_SOCKETS}
        theirs = []
        for _ in range(2):  # Bob is not held back by Alice's sockets
            comm, connected, code = await _open(as_bob, path)
            assert connected, code
            assert (await comm.receive_json_from(timeout=TIMEOUT))["seq"] is None
            theirs.append(comm)
        await mine.pop().disconnect()  # a closed socket gives its slot back at once
        for _ in range(3):  # so does one the consumer refuses (an agent that does not exist)
            refused, connected, code = await _open(as_alice, f"/ws/agents/{missing}/")
            assert (connected, code) == (False, 4404)
            await refused.disconnect()
        again, connected, code = await _open(as_alice, path)
        assert connected, code
        assert "card" in (await again.receive_json_from(timeout=TIMEOUT))["html"]
        for comm in [*mine, *theirs, again]:
            await comm.disconnect()

    async_to_sync(scenario)()


def post_message(client, agent, text: str, **extra):
    return client.post(f"/agents/{agent.pk}/messages/", {"text": text, "mode": "queue"}, **extra)


def test_writes_past_the_rate_get_429_with_retry_after_and_nothing_is_done(launched_task, alice, bob, settings):
    settings.SWARM_POST_RATE = 3
    _, agents = launched_task
    ada = agents["Ada"]
    from django.test import Client

    alice_client, bob_client = Client(), Client()
    alice_client.force_login(alice)
    bob_client.force_login(bob)
    minute_left()  # the writes counted in one clock minute
    for i in range(3):
        assert post_message(alice_client, ada, f"note {i}").status_code == 302
    page = post_message(alice_client, ada, "one too many")
    assert page.status_code == 429
    assert 1 <= int(page["Retry-After"]) <= 60
    assert "Too many changes from your account: at most 3 a minute" in page.content.decode()
    assert "<html" in page.content.decode()  # a page for a plain form post
    fragment = post_message(alice_client, ada, "again", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 429 and "<html" not in fragment.content.decode()
    assert 'role="alert"' in fragment.content.decode() and fragment["HX-Retarget"] == "main"
    assert Message.objects.filter(agent=ada).count() == 3  # nothing of the refused ones was stored
    # another account is not affected (Bob is a reviewer: his answer is about his role, not the rate)
    assert bob_client.post(f"/agents/{ada.pk}/stop/").status_code == 403
    assert alice_client.get(f"/agents/{ada.pk}/").status_code == 200  # reading is never capped


def test_api_writes_share_the_accounts_rate_and_answer_json(launched_task, alice, settings):
    settings.SWARM_POST_RATE = 2
    _, agents = launched_task
    ada = agents["Ada"]
    from django.test import Client

    token = ApiToken.issue(alice)
    api = Client()

    def send(text: str):
        return api.post(
            f"/api/agents/{ada.pk}/messages",
            json.dumps({"text": text}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    browser = Client()
    browser.force_login(alice)
    minute_left()  # the three writes counted in one clock minute
    assert post_message(browser, ada, "from the page").status_code == 302
    assert send("from a script").status_code == 201
    refused = send("one too many")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert refused.json()["error"].startswith("Too many changes from your account")
    assert refused.json()["retry_after"] == int(refused["Retry-After"])
    assert Message.objects.filter(agent=ada).count() == 2


def test_the_caps_step_aside_when_redis_is_down(launched_task, alice, settings):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    settings.SWARM_POST_RATE = 1
    task, agents = launched_task
    from django.test import Client

    client = Client()
    client.force_login(alice)
    for i in range(3):  # not counted, never a 500
        assert post_message(client, agents["Ada"], f"note {i}").status_code == 302
    as_alice = headers_for(alice)

    async def scenario():
        comm, connected, code = await _open(as_alice, f"/ws/tasks/{task.pk}/")
        assert connected, code
        assert (await comm.receive_json_from(timeout=TIMEOUT))["seq"] is None
        await comm.disconnect()

    async_to_sync(scenario)()
