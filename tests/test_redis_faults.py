"""RELIABILITY 3, short version: a running swarm survives its Redis restarting without persistence and being flushed.

The deployment runs on a redis-server of its own (tests/redis_faults.py; the machine's shared Redis is never
touched), with Swarm's default sweep windows. `make soak` runs the long version (8 agents each, 30 s outage).
"""

from __future__ import annotations

import time

import pytest

from tests.browser import session
from tests.live_server import Unavailable, unavailable
from tests.redis_faults import RESUME_WITHIN, Deployment, run_fault

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def redis_deployment(tmp_path_factory):
    """Swarm on a redis-server of its own, which the tests restart, flush and stop."""
    try:
        deployment = Deployment(tmp_path_factory.mktemp("redis-faults-")).__enter__()
    except Unavailable as exc:
        unavailable(str(exc))
    try:
        yield deployment
    finally:
        deployment.__exit__(None, None, None)


def _assert_nothing_lost(result) -> None:
    detail = f"{result}"
    assert result.page_errors == [], detail
    assert result.resumed_in is not None and result.resumed_in <= RESUME_WITHIN, detail
    assert result.finished == result.agents, detail
    assert (result.lost, result.duplicated) == (0, 0), detail
    assert result.socket_events > 0 and result.socket_late == [], detail


def test_a_redis_restart_without_persistence_loses_no_agent_and_no_live_event(redis_deployment):
    result = run_fault(redis_deployment, "restart", agents=6, down=4)
    assert result.pages >= 5, "no page was tried while Redis was down"
    _assert_nothing_lost(result)


def test_a_flushall_while_steps_wait_in_the_queue_loses_no_agent(redis_deployment):
    result = run_fault(redis_deployment, "flush", agents=6)
    assert result.queued_at_fault > 0, "nothing was queued in Redis when it was flushed: the fault hit nothing"
    _assert_nothing_lost(result)


@pytest.mark.browser
def test_an_open_agent_page_says_live_updates_are_paused_while_redis_is_down_then_catches_up(redis_deployment, browser):
    from playwright.sync_api import expect

    deployment = redis_deployment
    task_id, agents = deployment.launch(["P1", "P2"])
    agent_id = next(iter(agents.values()))
    with session(browser, deployment.app, "redis-paused") as (context, _watch):
        context.add_cookies(
            [{"name": k, "value": v, "url": deployment.app.base_url} for k, v in deployment.cookies.items()]
        )
        page = context.new_page()
        banner, transcript = page.locator("#live-status"), page.locator("#transcript")
        page.goto(f"/agents/{agent_id}/")
        expect(transcript).to_have_attribute("data-connected", "1", timeout=30_000)
        expect(banner).to_be_hidden()

        deployment.redis.shutdown_nosave()
        try:
            expect(banner).to_be_visible(timeout=20_000)  # the socket was closed for it: nothing arrives meanwhile
            expect(banner).to_contain_text("live updates paused")
            response = page.reload()  # a page rendered while Redis is down
            assert response.status == 200
            expect(page.locator("h1")).to_be_visible()
            expect(banner).to_be_visible(timeout=20_000)
        finally:
            deployment.redis.start()

        expect(banner).to_be_hidden(timeout=20_000)
        expect(transcript).to_have_attribute("data-connected", "1")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and any(
            a["status"] == "running" or a["leased"] for a in deployment.agents(task_id).values()
        ):
            time.sleep(0.5)
        recorded = deployment.rows("SELECT count(*) FROM agents_event WHERE agent_id = %s", agent_id)[0][0]
        expect(transcript.locator("li.event[data-seq]")).to_have_count(recorded, timeout=20_000)
