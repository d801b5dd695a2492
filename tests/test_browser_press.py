"""A click on a live card is never lost to a frame (static/js/live.js), in real headless Chromium: while a person
holds the pointer down on a working agent's card, the frames that redraw it wait; the click lands on what was
pressed, and the card catches up when the pointer is released."""

from __future__ import annotations

import re

import pytest

from tests.browser import log_in, session, shot, write_and_launch_task

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# counts the frames every live socket of the page receives that carry the given card
COUNT_FRAMES = """
(() => {
  const Native = window.WebSocket;
  window.__cardFrames = {};
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener("message", (msg) => {
      for (const id of msg.data.match(/agent-\\d+-card/g) || []) window.__cardFrames[id] = (window.__cardFrames[id] || 0) + 1;
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, { OPEN: 1, CLOSED: 3 });
})();
"""


SEEN = "([id, n]) => (window.__cardFrames[id] || 0) >= n"


def _frames(page, card_id: str) -> int:
    return page.evaluate("id => window.__cardFrames[id] || 0", card_id)


def test_a_pressed_card_waits_for_the_release_and_the_click_lands(live_app, browser):
    from playwright.sync_api import expect

    app = live_app(step_delay=1.0)  # a step a second: the card is redrawn while the pointer is down
    with session(browser, app, "press") as (context, _):
        context.add_init_script(COUNT_FRAMES)
        page = context.new_page()
        log_in(page, app.admin_password)
        write_and_launch_task(page, "Press", "Ada = sim-diligent")
        card = page.locator("article.card", has_text="Ada")
        expect(card).to_have_count(1, timeout=30_000)
        card_id = card.get_attribute("id")
        expect(page.locator("#" + card_id)).to_have_attribute("data-status", "running", timeout=30_000)

        # held on the card's body: frames for it arrive and wait; the element pressed stays the one shown
        pressed = page.locator("#" + card_id).element_handle()
        box = pressed.bounding_box()
        page.mouse.move(box["x"] + box["width"] - 8, box["y"] + box["height"] - 8)
        page.mouse.down()
        before = _frames(page, card_id)
        page.wait_for_function(SEEN, arg=[card_id, before + 2], timeout=60_000)
        assert pressed.evaluate("el => el.isConnected"), "a frame replaced the card under the pointer"
        page.mouse.up()
        # released: the newest version takes its place
        page.wait_for_function("el => !el.isConnected", arg=pressed, timeout=10_000)

        # a click on the name while frames keep coming lands on the agent's page
        link = page.locator("#" + card_id + " a.agent-name")
        link.hover()
        page.mouse.down()
        before = _frames(page, card_id)
        page.wait_for_function(SEEN, arg=[card_id, before + 1], timeout=60_000)
        page.mouse.up()
        expect(page).to_have_url(re.compile(r"/agents/\d+/$"), timeout=10_000)
        expect(page.locator("#transcript")).to_have_attribute("data-connected", "1", timeout=30_000)
        shot(page, "press", "01-agent-page-after-held-click")
