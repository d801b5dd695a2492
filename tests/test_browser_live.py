"""static/js/live.js in real headless Chromium against real daphne on Redis: a fatal close (4403, the watcher was
removed from the team) is not retried and says why; a lost server (daphne crashed and restarted) is."""

from __future__ import annotations

import pytest

from benchmarks.live_tools import restart_daphne, start_app, tool
from tests.conftest import unavailable
from tests.live_server import Unavailable, flush_redis_db

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
def live(tmp_path):
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


def _watch(browser, live, cookie: str, agent: int):
    from playwright.sync_api import expect

    context = browser.new_context(base_url=live.base_url)
    name, value = cookie.split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": live.base_url}])
    context.add_init_script(COUNT_SOCKETS)
    page = context.new_page()
    page.goto(f"/agents/{agent}/")
    expect(page.locator("#transcript")).to_have_attribute("data-connected", "1", timeout=30_000)
    return context, page


def test_a_removed_watcher_is_not_reconnected_and_a_crashed_server_is(live, browser):
    from playwright.sync_api import expect

    info = tool(live, "prepare", "leaver", "stayer")
    leaving, leaver = _watch(browser, live, info["users"]["leaver"]["cookie"], info["agent"])
    staying, stayer = _watch(browser, live, info["users"]["stayer"]["cookie"], info["agent"])
    try:
        tool(live, "remove", "leaver")  # closes the leaver's open sockets with 4403
        expect(leaver.locator("#live-status")).to_have_text(
            "Live updates unavailable: you may not watch this.", timeout=30_000
        )
        expect(leaver.locator("#transcript")).to_have_attribute("data-connected", "0")
        leaver.wait_for_timeout(6_000)  # longer than live.js's first retry delays
        assert leaver.evaluate("window.__sockets") == 1  # never retried

        restart_daphne(live)  # control: a server that went away is reconnected to
        expect(stayer.locator("#transcript")).to_have_attribute("data-connected", "1", timeout=60_000)
        assert stayer.evaluate("window.__sockets") >= 2
        expect(stayer.locator("#live-status")).to_be_hidden()
    finally:
        leaving.close()
        staying.close()
