"""A click on a live page is never lost to a frame (static/js/live.js), in real headless Chromium: while a person
holds the pointer down on a working agent's card or header, the frames that redraw it wait; the click lands on what
was pressed, and the newest version is swapped in when the pointer is released, its buttons included."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser import log_in, session, shot, write_and_launch_task

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# counts the frames every live socket of the page receives that carry the given element
COUNT_FRAMES = """
(() => {
  const Native = window.WebSocket;
  window.__frames = {};
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener("message", (msg) => {
      for (const id of new Set(msg.data.match(/agent-\\d+-(card|header)/g) || [])) {
        window.__frames[id] = (window.__frames[id] || 0) + 1;
      }
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, { OPEN: 1, CLOSED: 3 });
})();
"""
SEEN = "([id, n]) => (window.__frames[id] || 0) >= n"


def _frames(page, element_id: str) -> int:
    return page.evaluate("id => window.__frames[id] || 0", element_id)


def _press(page, element_id: str, locator, inset: float | None = None):
    """Hold the pointer down on `locator` (its centre, or `inset` px from its lower right corner, away from links and
    buttons) until a frame for `element_id` has arrived; the element pressed."""
    for _ in range(50):
        box = locator.bounding_box()
        if box:  # None while a frame is swapping the element
            break
    assert box, f"#{element_id} never showed"
    if inset is None:
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    else:
        page.mouse.move(box["x"] + box["width"] - inset, box["y"] + box["height"] - inset)
    page.mouse.down()
    # the element under the pointer once it is down (a frame may have replaced it between the look and the press)
    pressed = page.locator("#" + element_id).element_handle()
    page.wait_for_function(SEEN, arg=[element_id, _frames(page, element_id) + 1], timeout=60_000)
    assert pressed.evaluate("el => el.isConnected"), f"a frame replaced #{element_id} under the pointer"
    return pressed


def _quiet(page, element_id: str, seconds: float = 2.0) -> None:
    """Until no frame for the element has come for `seconds` (the agent is paused: nothing more is sent)."""
    deadline = time.monotonic() + 60
    last, since = _frames(page, element_id), time.monotonic()
    while time.monotonic() - since < seconds:
        assert time.monotonic() < deadline, f"frames for #{element_id} never stopped"
        page.wait_for_timeout(200)
        now = _frames(page, element_id)
        if now != last:
            last, since = now, time.monotonic()


def test_a_pressed_card_or_header_waits_for_the_release_and_the_click_lands(live_app, browser):
    from playwright.sync_api import expect

    # a step every ~4 s (a second's model call, then the step delay): the card and header are redrawn while the
    # pointer is down, and sim-diligent's steps (~40 s) last through both holds and the pause on a loaded machine
    app = live_app(step_delay=3.0, SWARM_SIM_LATENCY="1")
    with session(browser, app, "press") as (context, _):
        context.add_init_script(COUNT_FRAMES)
        board = context.new_page()
        log_in(board, app.admin_password)
        write_and_launch_task(board, "Press", "Ada = sim-diligent")
        card = board.locator("article.card", has_text="Ada")
        expect(card).to_have_attribute("data-status", "running", timeout=60_000)
        card_id = card.get_attribute("id")
        agent_url = card.locator("a.agent-name").get_attribute("href")
        header_id = card_id.replace("-card", "-header")
        detail = context.new_page()
        detail.goto(agent_url)
        expect(detail.locator("#transcript")).to_have_attribute("data-connected", "1", timeout=30_000)

        # held: on the card's body, and on the agent page's name (its header holds the buttons)
        held_card = _press(board, card_id, board.locator("#" + card_id), inset=8)
        held_header = _press(detail, header_id, detail.locator(f"#{header_id} h1"))

        # paused from a third page: the last frames carry "paused" and then nothing more comes
        controls = context.new_page()
        controls.goto(agent_url)
        controls.locator(f"#{card_id.replace('-card', '-controls')}").get_by_role("button", name="Pause").click()
        expect(controls.locator(f"#{header_id}")).to_contain_text("paused", timeout=30_000)
        _quiet(board, card_id)
        _quiet(detail, header_id)
        # what was pressed is still shown, as it was when pressed
        assert held_card.evaluate("el => el.isConnected && el.dataset.status") == "running"
        assert held_header.evaluate("el => el.isConnected")

        # released with no frame coming any more: only the held versions can bring "paused"
        board.mouse.up()
        expect(board.locator("#" + card_id)).to_have_attribute("data-status", "paused", timeout=5_000)
        assert not held_card.evaluate("el => el.isConnected")
        detail.mouse.up()
        expect(detail.locator(f"#{header_id}")).to_contain_text("paused", timeout=5_000)
        # the buttons came with the header, not before it (its older copy would have emptied them)
        expect(detail.locator(f"#{header_id}").get_by_role("button", name="Resume")).to_be_visible()
        shot(detail, "press", "01-agent-page-released-paused")

        # a click on the name held while a frame arrives lands on the agent's page
        detail.get_by_role("button", name="Resume").click()
        expect(detail.locator(f"#{header_id}")).to_contain_text("running", timeout=30_000)
        board.locator(f"#{card_id} a.agent-name").hover()
        board.mouse.down()
        board.wait_for_function(SEEN, arg=[card_id, _frames(board, card_id) + 1], timeout=60_000)
        board.mouse.up()
        expect(board).to_have_url(re.compile(r"/agents/\d+/$"), timeout=10_000)
        expect(board.locator("#transcript")).to_have_attribute("data-connected", "1", timeout=30_000)
