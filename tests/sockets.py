"""What the websocket tests share: a browser's handshake headers, opening an agent's socket through the real ASGI
application, and the `fresh_channel_layer` fixture (tests/conftest.py registers this module as a plugin).

A test module whose tests open sockets says so with `pytestmark = pytest.mark.usefixtures("fresh_channel_layer")`.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from agents import live_send
from swarm_web.asgi import application

TIMEOUT = 10  # seconds; generous, the machine is small and shared


@pytest.fixture
def fresh_channel_layer():
    """Each test runs its own event loop: start and end with an empty layer and no remembered server loop."""
    layer = get_channel_layer()
    saved_loop = live_send.main_loop
    async_to_sync(layer.flush)()
    yield
    async_to_sync(layer.flush)()
    live_send.main_loop = saved_loop


def headers_for(user=None, origin: str = "http://localhost", host: str = "localhost") -> list[tuple[bytes, bytes]]:
    """What a browser sends on the handshake: the Host, its Origin and, when logged in, its session cookie."""
    headers = [(b"host", host.encode()), (b"origin", origin.encode())]
    if user is not None:
        client = Client()
        client.force_login(user)
        cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        headers.append((b"cookie", cookie.encode()))
    return headers


async def open_agent_socket(headers, agent_id: int, after: int = 0) -> tuple[WebsocketCommunicator, list[dict]]:
    """Connect and read the replay; the header fragment (seq null) closes it. Returns the socket and the replay."""
    comm = WebsocketCommunicator(application, f"/ws/agents/{agent_id}/?after={after}", headers=headers)
    connected, code = await comm.connect(timeout=TIMEOUT)
    assert connected, f"socket refused with {code}"
    replay = []
    while True:
        message = await comm.receive_json_from(timeout=TIMEOUT)
        if message["seq"] is None:
            assert "agent-header" in message["html"] or f"agent-{agent_id}" in message["html"]
            return comm, replay
        replay.append(message)


async def next_close(comm: WebsocketCommunicator) -> dict:
    """The socket's close, past any overview frame still on its way (they come a few times a second at any moment)."""
    while (output := await comm.receive_output(timeout=TIMEOUT))["type"] == "websocket.send":
        pass
    return output
