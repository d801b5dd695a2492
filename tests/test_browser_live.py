"""static/js/live.js in real headless Chromium against real daphne on Redis: a fatal close (4403, the watcher was
removed from the team) is not retried and says why; a lost server (daphne crashed and restarted) is."""

from __future__ import annotations

import pytest

from benchmarks.live_tools import restart_daphne, start_app, tool
from tests.browser import session
from tests.live_server import Unavailable, flush_redis_db, unavailable

pytestmark = [pytest.mark.browser, pytest.mark.distributed, pytest.mark.timeout(300)]

REDIS_DB = 10
# counts every socket the page opens, before its own scripts run
COUNT_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = 0;
  window.WebSocket = function (...args) { window.__sockets += 1; return new Native(...args); };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, { OPEN: 1, CLOSED: 3 });
})();
"""


@pytest.fixture
def live_stream_app(tmp_path):
    try:
        redis_url = flush_redis_db(REDIS_DB)
    except Unavailable as exc:
        unavailable(str(exc))
    app = start_app(tmp_path, redis_url, SWARM_CAPS_PREFIX="test-browser-live:")
    try:
        yield app
    finally:
        app.stop()
        flush_redis_db(REDIS_DB)


def _watch(context, live, cookie: str, agent: int):
    from playwright.sync_api import expect

    name, value = cookie.split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": live.base_url}])
    context.add_init_script(COUNT_SOCKETS)
    page = context.new_page()
    page.goto(f"/agents/{agent}/")
    expect(page.locator("#transcript")).to_have_attribute("data-connected", "1", timeout=30_000)
    return page


def test_a_removed_watcher_is_not_reconnected_and_a_crashed_server_is(live_stream_app, browser):
    from playwright.sync_api import expect

    live = live_stream_app
    info = tool(live, "prepare", "leaver", "stayer")
    with (
        session(browser, live, "live-leaver") as (leaving, leaver_watch),
        session(browser, live, "live-stayer") as (staying, stayer_watch),
    ):
        leaver = _watch(leaving, live, info["users"]["leaver"]["cookie"], info["agent"])
        stayer = _watch(staying, live, info["users"]["stayer"]["cookie"], info["agent"])
        tool(live, "remove", "leaver")  # closes the leaver's open sockets with 4403
        expect(leaver.locator("#live-status")).to_have_text(
            "Live updates unavailable: you may not watch this.", timeout=30_000
        )
        expect(leaver.locator("#transcript")).to_have_attribute("data-connected", "0")
        leaver.wait_for_timeout(6_000)  # longer than live.js's first retry delays
        assert leaver.evaluate("window.__sockets") == 1  # never retried

        # the server is killed on purpose: the stayer's reconnection attempts fail until it is back
        stayer_watch.server_down()
        leaver_watch.server_down()  # its page stays open: its nav counters' poll fails while the server is down
        restart_daphne(live)  # control: a server that went away is reconnected to
        expect(stayer.locator("#transcript")).to_have_attribute("data-connected", "1", timeout=60_000)
        assert stayer.evaluate("window.__sockets") >= 2
        expect(stayer.locator("#live-status")).to_be_hidden()
