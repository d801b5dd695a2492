"""Websockets opened with an API token (the `swarm` command's): no Origin needed, the API's JSON instead of the page's
fragments, the token checked as the API checks it (wrong, revoked, another team's, guessed), its sockets closed when it
is revoked, and nothing a client sends over it does anything. A browser's cookie socket keeps its exact-Origin check.

The real ASGI application (token middleware, Origin check, session auth, routing, consumers) with channels'
WebsocketCommunicator and the in-memory channel layer.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from agents import services, tokens
from agents.models import ApiToken, Event, Message
from swarm_web.asgi import application
from tests.sockets import TIMEOUT, headers_for, next_close

pytestmark = pytest.mark.usefixtures("fresh_channel_layer")

record = database_sync_to_async(services.record_event)


def with_token(raw: str, *extra: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """What the `swarm` command sends: the Host and the token, no Origin and no cookie."""
    return [(b"host", b"localhost"), (b"authorization", f"Bearer {raw}".encode()), *extra]


def api_get(raw: str, path: str, address: str = "127.0.0.1"):
    return Client().get(f"/api/{path}", HTTP_AUTHORIZATION=f"Bearer {raw}", REMOTE_ADDR=address)


async def attempt(path: str, headers, address: str = "") -> tuple[bool, list]:
    """Open a socket; whether it opened and anything it sent within a moment."""
    comm = WebsocketCommunicator(application, path, headers=headers)
    if address:
        comm.scope["client"] = (address, 40000)  # the address django-axes counts a failure against
    connected, _ = await comm.connect(timeout=TIMEOUT)
    got = []
    while connected and not await comm.receive_nothing(0.3):
        got.append(await comm.receive_output(TIMEOUT))
    await comm.disconnect()
    return connected, got


def test_a_token_socket_opens_without_an_origin_and_speaks_the_apis_json(demo, launched, alice):
    _, task = demo
    ada = launched["Ada"]
    _, raw = ApiToken.create(alice, "terminal", "read")
    services.record_event(ada.pk, "model_turn", {"text": "reading mathutil.py"})

    async def scenario():
        comm = WebsocketCommunicator(application, f"/ws/agents/{ada.pk}/?after=0", headers=with_token(raw))
        connected, code = await comm.connect(timeout=TIMEOUT)
        assert connected, code
        replay = [await comm.receive_json_from(TIMEOUT)]
        while replay[-1]["seq"] is not None:
            replay.append(await comm.receive_json_from(TIMEOUT))
        await record(ada.pk, "tool_call", {"tool": "run", "command": "pytest -q"}, activity="running the tests")
        live = [await comm.receive_json_from(TIMEOUT), await comm.receive_json_from(TIMEOUT)]
        await comm.disconnect()

        overview = WebsocketCommunicator(application, f"/ws/tasks/{task.pk}/", headers=with_token(raw))
        connected, code = await overview.connect(timeout=TIMEOUT)
        assert connected, code
        cards = await overview.receive_json_from(TIMEOUT)
        await record(ada.pk, "model_turn", {"text": "found it"}, activity="fixing mean()")
        changed = await overview.receive_json_from(TIMEOUT)
        while "fixing mean()" not in str(changed):  # past a frame of the launch's cards still on its way
            changed = await overview.receive_json_from(TIMEOUT)
        await overview.disconnect()
        return replay, live, cards, changed

    replay, live, cards, changed = async_to_sync(scenario)()
    # the events exactly as the API's log has them, then the agent's state as the API shows it
    logged = api_get(raw, f"agents/{ada.pk}/events").json()["events"]
    assert [m["event"] for m in replay[:-1]] == logged[: len(replay) - 1]
    assert [m["seq"] for m in replay[:-1]] == [e["seq"] for e in logged[: len(replay) - 1]] == [1, 2]
    assert replay[-1]["agent"]["name"] == "Ada" and replay[-1]["agent"]["status"] == "running"
    assert "html" not in str(replay)
    # live: the new event, then the state it changed
    assert live[0]["seq"] == 3 and live[0]["event"]["payload"] == {"tool": "run", "command": "pytest -q"}
    assert live[1]["seq"] is None and live[1]["agent"]["activity"] == "running the tests"
    # the task's socket: every agent on connect, as GET /api/tasks/<id> lists them; then the ones that changed
    assert sorted(a["name"] for a in cards["agents"]) == sorted(launched)
    assert {a["id"]: a["status"] for a in cards["agents"]} == {
        a["id"]: a["status"] for a in api_get(raw, f"tasks/{task.pk}").json()["agents"]
    }
    ada_now = next(a for a in changed["agents"] if a["id"] == ada.pk)
    assert ada_now["activity"] == "fixing mean()" and ada_now["usage"]["steps"] == 0


def test_a_wrong_revoked_or_strangers_token_opens_nothing_and_revoking_closes_open_sockets(launched, alice, mallory):
    ada = launched["Ada"]
    path = f"/ws/agents/{ada.pk}/"
    token, raw = ApiToken.create(alice, "terminal", "read")
    _, strangers = ApiToken.create(mallory, "hers", "admin")

    assert async_to_sync(attempt)(path, with_token("swm_not-a-token"))[0] is False
    assert async_to_sync(attempt)(path, with_token(strangers)) == (False, [])  # another team's agent: not found
    # Alice's session cookie does not rescue a wrong token: the socket is the token's
    assert async_to_sync(attempt)(path, with_token("swm_wrong", *headers_for(alice)))[0] is False

    async def revoked_while_open() -> dict:
        comm = WebsocketCommunicator(application, path, headers=with_token(raw))
        connected, code = await comm.connect(timeout=TIMEOUT)
        assert connected, code
        await database_sync_to_async(tokens.revoke_token)(alice, token.pk)
        return await next_close(comm)

    closed = async_to_sync(revoked_while_open)()
    assert closed == {"type": "websocket.close", "code": 4403}
    assert async_to_sync(attempt)(path, with_token(raw))[0] is False
    assert api_get(raw, f"agents/{ada.pk}").status_code == 401  # as the API refuses it


def test_a_read_token_socket_cannot_message_or_steer_an_agent(launched, alice):
    """Alice is an operator, but her token may only read: the frames she sends over its socket change nothing."""
    ada = launched["Ada"]
    _, raw = ApiToken.create(alice, "terminal", "read")
    seen = Event.objects.filter(agent=ada).count()  # the replay is skipped: only what comes after the frames

    async def scenario() -> list[dict]:
        comm = WebsocketCommunicator(application, f"/ws/agents/{ada.pk}/?after={seen}", headers=with_token(raw))
        connected, code = await comm.connect(timeout=TIMEOUT)
        assert connected, code
        assert (await comm.receive_json_from(TIMEOUT))["seq"] is None
        for frame in (
            {"text": "Delete the tests instead.", "mode": "steer"},
            {"type": "message", "text": "Delete the tests instead.", "mode": "interrupt"},
            {"action": "stop"},
        ):
            await comm.send_json_to(frame)
        await record(ada.pk, "model_turn", {"text": "still here"})
        after = [await comm.receive_json_from(TIMEOUT)]  # the socket still streams: the frames were ignored
        await comm.disconnect()
        return after

    after = async_to_sync(scenario)()
    assert after[0]["event"]["payload"] == {"text": "still here"}
    assert not Message.objects.filter(agent=ada).exists()
    assert not Event.objects.filter(agent=ada, kind=Event.Kind.MESSAGE).exists()
    ada.refresh_from_db()
    assert ada.status == "running"
    # the same words through the API with this token: refused for its scope, nothing sent either
    refused = Client().post(
        f"/api/agents/{ada.pk}/messages",
        {"text": "Delete the tests instead."},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert refused.status_code == 403 and "scope is read" in refused.json()["error"]
    assert not Message.objects.filter(agent=ada).exists()


def test_a_cookie_socket_from_a_foreign_origin_is_still_refused(launched, alice):
    path = f"/ws/agents/{launched['Ada'].pk}/"
    foreign = headers_for(alice, origin="https://evil.example")
    assert async_to_sync(attempt)(path, foreign) == (False, [])
    # an Authorization header that is not a bearer token (a browser's cached Basic credentials) changes nothing
    basic = [*foreign, (b"authorization", b"Basic YWxpY2U6c2VjcmV0")]
    assert async_to_sync(attempt)(path, basic) == (False, [])
    assert async_to_sync(attempt)(path, headers_for(alice))[0] is True  # control: our own origin


def test_wrong_tokens_on_sockets_count_toward_the_addresses_lockout(launched, alice, settings):
    path = f"/ws/agents/{launched['Ada'].pk}/"
    _, raw = ApiToken.create(alice, "terminal", "read")
    assert async_to_sync(attempt)(path, with_token(raw), "10.0.7.1")[0] is True  # control
    for i in range(settings.AXES_FAILURE_LIMIT):
        assert async_to_sync(attempt)(path, with_token(f"swm_guess{i}"), "10.0.7.1")[0] is False
    # that address is locked out, for sockets and the API alike, even with the right token; another is not
    assert async_to_sync(attempt)(path, with_token(raw), "10.0.7.1")[0] is False
    assert api_get(raw, "tasks", "10.0.7.1").status_code == 429
    assert async_to_sync(attempt)(path, with_token(raw), "10.0.7.2")[0] is True
