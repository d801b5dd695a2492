"""Steer and interrupt messages in real headless Chromium: each shows queued, delivered and answered live."""

from __future__ import annotations

import re

import pytest

from tests.live_server import ARTIFACTS, LiveApp
from tests.test_browser_swarm import RECORDER, _log_in, _shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture
def app(tmp_path_factory):
    # slow steps: the agent is still at work while both messages go in
    live = LiveApp("embedded", tmp_path_factory.mktemp("swarm-modes-"), step_delay=2.0)
    try:
        live.start()
        yield live
    finally:
        live.stop()
        live.save_logs(ARTIFACTS / "logs")


def _send(page, text: str, mode: str) -> str:
    from playwright.sync_api import expect

    page.locator("#message-text").fill(text)
    page.get_by_label("Delivery mode").select_option(mode)
    page.locator("#send-message").click()
    expect(page.locator("#message-text")).to_have_value("")
    message = page.locator("#transcript li.kind-message", has_text=text)
    expect(message).to_have_count(1)
    expect(message.locator(".mode")).to_have_text(mode)
    receipt_id = message.locator(".receipt").get_attribute("id")
    assert re.fullmatch(r"message-\d+-receipt", receipt_id or "")
    return receipt_id


def test_steer_and_interrupt_messages_show_their_receipts_live(app, browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=app.base_url)
    context.add_init_script(RECORDER)
    page = context.new_page()
    try:
        _log_in(page, app.admin_password)
        page.goto("/tasks/new/")
        page.get_by_label("Title").fill("Modes")
        page.get_by_label("Repo").select_option(label="mathutil")
        page.get_by_label("Goal").fill("mean([2, 4, 6]) must be 4.")
        page.get_by_label("Acceptance criteria").fill("The whole test suite passes")
        page.get_by_label("Verify command").fill("python -m pytest -q")
        page.get_by_label("Agents").fill("Ada = sim-diligent")
        page.get_by_role("button", name="Save task").click()
        page.get_by_role("button", name=re.compile("Launch 1 agents")).click()
        page.locator("article.card a.agent-name", has_text="Ada").click()
        expect(page.locator("#transcript")).to_have_attribute("data-connected", "1")

        for mode in ("steer", "interrupt"):
            receipt_id = _send(page, f"{mode.title()}: keep clamp() as it is.", mode)
            expect(page.locator(f"#{receipt_id}")).to_have_text("answered")
            seen = page.evaluate("id => window.__receipts[id]", receipt_id)
            assert seen == ["queued", "delivered", "answered"], (mode, seen)
            reply = page.locator("#transcript li.kind-model_turn", has_text=f"{mode.title()}: keep clamp() as it is.")
            expect(reply).to_have_count(1)
        _shot(page, "modes", "01-steer-and-interrupt-answered")
    finally:
        context.close()
