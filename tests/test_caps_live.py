"""Per-account caps across processes (RELIABILITY 15): two daphne processes of one app share their counts through
real Redis, so a second process is no way around the cap, and a crashed process's sockets stop counting on their
own. The single-process behaviour is in tests/test_caps.py; the soak (benchmarks/live_caps.py) runs it at full size."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from benchmarks.live_receipts import http
from benchmarks.live_tools import spawn_daphne, start_app, tool
from tests.live_server import Unavailable, flush_redis_db, kill_group, unavailable
from tests.waiting import minute_left
from tests.ws_client import Closed, WsClient

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(600)]

REDIS_DB = 15
# a socket's slot lapses this long after its process last refreshed it (every third of it): 10 s, so a daphne that
# stalls a few seconds on a loaded machine keeps the slots of its open sockets (with 3 s, a stall of 2 s let one lapse
# and a socket past the cap in)
SLOT_SECONDS = 10
CAPS = {
    "SWARM_WS_PER_USER": "3",
    "SWARM_WS_SLOT_SECONDS": str(SLOT_SECONDS),
    "SWARM_POST_RATE": "5",
    "SWARM_CAPS_PREFIX": "test-caps-live:",
}


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    try:
        redis_url = flush_redis_db(REDIS_DB)
    except Unavailable as exc:
        unavailable(str(exc))
    app = start_app(tmp_path_factory.mktemp("swarm-caps-"), redis_url, **CAPS)
    try:
        other_port = spawn_daphne(app, "daphne-b")
        yield app, other_port, tool(app, "prepare", "alice", "bob")
    finally:
        app.stop()
        flush_redis_db(REDIS_DB)


async def watching(port: int, agent: int, cookie: str) -> WsClient:
    """An open socket the consumer accepted (the header follows the replay)."""
    ws = await WsClient.connect(port, f"/ws/agents/{agent}/", cookie)
    while json.loads(await ws.recv())["seq"] is not None:
        pass
    return ws


async def hold(port: int, agent: int, cookie: str, count: int) -> list[WsClient]:
    """`count` open sockets, once the sockets an earlier test closed have given their slots back."""
    deadline = time.monotonic() + SLOT_SECONDS + 20
    while True:
        held = []
        try:
            for _ in range(count):
                held.append(await watching(port, agent, cookie))
            return held
        except Closed:
            for ws in held:
                await ws.close()
            assert time.monotonic() < deadline, "the slots of closed sockets were never given back"
            await asyncio.sleep(0.2)


async def close_code(port: int, agent: int, cookie: str) -> int | None:
    """The close code of a new socket, or None if it stays open (then it is closed here). An open socket answers at
    once with its replay, and a refused one with its close: the timeout only matters when a loaded server is slow."""
    ws = await WsClient.connect(port, f"/ws/agents/{agent}/", cookie)
    try:
        await ws.recv(timeout=15)
    except Closed as exc:
        return exc.code
    except TimeoutError:
        pass
    await ws.close()
    return None


def test_writes_past_the_rate_get_429_whichever_process_they_reach(apps):
    app, other_port, info = apps
    alice, bob = info["users"]["alice"]["token"], info["users"]["bob"]["token"]
    path = f"/api/agents/{info['agent']}/messages"
    minute_left()  # the six in one clock minute (CI once saw the sixth counted in the next one)
    answers = [
        http(port, path, token=alice, body={"text": f"note {i}"})[0]
        for i, port in enumerate([app.port, other_port] * 3)
    ]
    assert answers == [201] * 5 + [429]  # five in this minute, counted over both processes
    status, body = http(other_port, path, token=alice, body={"text": "again"})
    assert status == 429 and "Too many changes from your account: at most 5 a minute" in json.loads(body)["error"]
    assert 1 <= json.loads(body)["retry_after"] <= 60
    assert http(app.port, path, token=bob, body={"text": "bob is not held back"})[0] == 201


def test_sockets_past_the_cap_are_refused_whichever_process_they_reach(apps):
    app, other_port, info = apps
    agent, alice, bob = info["agent"], info["users"]["alice"]["cookie"], info["users"]["bob"]["cookie"]

    async def scenario():
        held = [await watching(app.port, agent, alice), await watching(app.port, agent, alice)]
        held.append(await watching(other_port, agent, alice))
        assert await close_code(other_port, agent, alice) == 4429  # the fourth, on the other process
        assert await close_code(app.port, agent, alice) == 4429
        bobs = [await watching(other_port, agent, bob) for _ in range(3)]  # another account is not affected
        await held.pop(0).close()  # a closed socket gives its slot back
        deadline = time.monotonic() + 30
        while (code := await close_code(other_port, agent, alice)) == 4429 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert code is None
        for ws in held + bobs:
            await ws.close()

    asyncio.run(scenario())


def test_a_crashed_processs_sockets_stop_counting_on_their_own(apps):
    app, other_port, info = apps
    agent, alice = info["agent"], info["users"]["alice"]["cookie"]

    async def scenario() -> float:
        held = await hold(app.port, agent, alice, 3)
        crashed = next(proc for name, proc, _ in app.procs if name == "daphne")
        kill_group(crashed)  # no socket of it is closed cleanly, no slot given back
        for ws in held:
            ws.abort()
        assert await close_code(other_port, agent, alice) == 4429  # its slots still count for a moment
        killed = time.monotonic()
        while await close_code(other_port, agent, alice) == 4429:
            assert time.monotonic() - killed < SLOT_SECONDS + 10, "the dead process's slots never lapsed"
            await asyncio.sleep(0.3)
        return time.monotonic() - killed

    assert asyncio.run(scenario()) <= SLOT_SECONDS + 10
