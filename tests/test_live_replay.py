"""The live stream against a real daphne on real Redis (RELIABILITY 4 and 10): every watcher gets every event once, in
order, through a slow reader, dropped connections, dropped broadcasts and a daphne crash; an oversized client frame
closes only its own socket. `make soak` runs the full size (benchmarks/live_replay.py)."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from benchmarks.live_replay import STAYING, run_replay
from benchmarks.live_tools import start_app, tool
from tests.live_server import Unavailable, flush_redis_db, unavailable
from tests.ws_client import Closed, WsClient

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(600)]

REDIS_DB = 11
OTHER_DB = 12  # and 13: two deployments side by side on one Redis


@pytest.fixture(scope="module")
def replay_app(tmp_path_factory):
    try:
        redis_url = flush_redis_db(REDIS_DB)
    except Unavailable as exc:
        unavailable(str(exc))
    app = start_app(tmp_path_factory.mktemp("swarm-replay-"), redis_url, SWARM_CAPS_PREFIX="test-replay:")
    try:
        yield app
    finally:
        app.stop()
        flush_redis_db(REDIS_DB)


def test_every_watcher_gets_every_event_once_in_order_through_drops_and_a_daphne_crash(replay_app):
    info = tool(replay_app, "prepare", *STAYING, "leaver")
    run = asyncio.run(run_replay(replay_app, info, total=200, rate=50, drops=2, seed=7))
    assert run.problems() == [], run.problems()
    for name in STAYING:
        assert run.watchers[name].seen == list(range(1, 201)), name
    assert run.watchers["flaky"].connects >= 3  # the first socket, one per drop (and more after the crash)
    assert run.watchers["normal"].connects >= 2  # the crash cut every socket
    leaver = run.watchers["leaver"]
    assert leaver.fatal == 4403 or leaver.refused == 403  # closed while watching (or refused, if the crash came first)
    assert run.refused_after_leaving == 403


def test_an_oversized_frame_closes_only_that_socket(replay_app):
    info = tool(replay_app, "prepare", "big", "calm")
    path = f"/ws/agents/{info['agent']}/"

    async def scenario() -> tuple[int, int, list[int]]:
        calm = await WsClient.connect(replay_app.port, path, info["users"]["calm"]["cookie"])
        codes = []
        for size in (2 * 1024 * 1024, 64 * 1024):  # past daphne's 1 MiB message limit; past the consumer's 4 KiB
            big = await WsClient.connect(replay_app.port, path, info["users"]["big"]["cookie"])
            await big.recv()  # the header: the socket is open
            await big.send_text("x" * size)
            try:
                while True:
                    await big.recv(timeout=20)
            except Closed as exc:
                codes.append(exc.code)
        small = await WsClient.connect(replay_app.port, path, info["users"]["big"]["cookie"])
        await small.recv()
        await small.send_text("hello")  # control: a small frame is ignored, the socket stays open
        emitted = await asyncio.to_thread(tool, replay_app, "emit", str(info["agent"]), "3", "50")
        seen = []
        for ws in (calm, small):
            got = []
            while len(got) < 3:
                seq = json.loads(await ws.recv())["seq"]
                if seq is not None:
                    got.append(seq)
            seen.append(got)
            await ws.close()
        assert emitted["events"] == 3
        return codes, seen

    codes, seen = asyncio.run(scenario())
    assert codes == [1009, 4009]  # "message too big" from daphne, then from the consumer: a clean close of that socket
    assert seen == [[1, 2, 3], [1, 2, 3]]
    with urllib.request.urlopen(f"{replay_app.base_url}/accounts/login/", timeout=10) as response:
        assert response.status == 200
    assert "Traceback" not in replay_app.logs()


def test_two_deployments_on_one_redis_never_see_each_others_live_events(tmp_path_factory):
    """Redis pub/sub ignores database numbers: without a channel prefix per database, a socket of one deployment
    would show another's agent of the same id (fresh databases number their agents alike)."""
    urls = []
    for db in (OTHER_DB, OTHER_DB + 1):
        try:
            urls.append(flush_redis_db(db))
        except Unavailable as exc:
            unavailable(str(exc))
    apps = []
    try:
        for url in urls:
            apps.append(start_app(tmp_path_factory.mktemp("swarm-deployment-"), url))
        ours, theirs = apps
        mine, other = tool(ours, "prepare", "ann"), tool(theirs, "prepare", "ben")
        assert mine["agent"] == other["agent"]  # the same agent id, so the same group name in both

        async def scenario() -> tuple[list[int], list[int]]:
            path = f"/ws/agents/{mine['agent']}/"
            watching_ours = await WsClient.connect(ours.port, path, mine["users"]["ann"]["cookie"])
            watching_theirs = await WsClient.connect(theirs.port, path, other["users"]["ben"]["cookie"])
            for ws in (watching_ours, watching_theirs):
                assert json.loads(await ws.recv())["seq"] is None  # the header: both sockets are open
            await asyncio.to_thread(tool, theirs, "emit", str(other["agent"]), "3", "50")
            got_theirs = [json.loads(await watching_theirs.recv())["seq"] for _ in range(3)]  # control: they went out
            leaked = []
            try:
                while True:
                    leaked.append(json.loads(await watching_ours.recv(timeout=2)))
            except TimeoutError:
                pass
            # nothing of the other deployment's agent reached our socket (forwarded, its seqs would also make our
            # own events look already shown)
            assert [m["seq"] for m in leaked] == []
            await asyncio.to_thread(tool, ours, "emit", str(mine["agent"]), "2", "50")
            got_ours = [json.loads(await watching_ours.recv())["seq"] for _ in range(2)]
            for ws in (watching_ours, watching_theirs):
                await ws.close()
            return got_ours, got_theirs

        got_ours, got_theirs = asyncio.run(scenario())
        assert got_theirs == [1, 2, 3]
        assert got_ours == [1, 2]
    finally:
        for app in apps:
            app.stop()
        for db in (OTHER_DB, OTHER_DB + 1):
            flush_redis_db(db)
