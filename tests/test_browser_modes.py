"""Steer and interrupt messages in real headless Chromium: each shows queued, delivered and answered live."""

from __future__ import annotations

import re

import pytest

from tests.browser import log_in, session, shot, write_and_launch_task

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


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


def test_steer_and_interrupt_messages_show_their_receipts_live(live_app, browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    app = live_app(step_delay=2.0)  # slow steps: the agent is still at work while both messages go in
    with session(browser, app, "modes") as (context, _):
        page = context.new_page()
        log_in(page, app.admin_password)
        write_and_launch_task(page, "Modes", "Ada = sim-diligent")
        # to the agent's page by its card's link (a click races the live frames that redraw a working agent's card:
        # CI once saw it land on nothing; what this test is about is the receipts)
        page.goto(page.locator("article.card a.agent-name", has_text="Ada").get_attribute("href"))
        expect(page.locator("#transcript")).to_have_attribute("data-connected", "1")

        for mode in ("steer", "interrupt"):
            receipt_id = _send(page, f"{mode.title()}: keep clamp() as it is.", mode)
            expect(page.locator(f"#{receipt_id}")).to_have_text("answered")
            seen = page.evaluate("id => window.__receipts[id]", receipt_id)
            assert seen == ["queued", "delivered", "answered"], (mode, seen)
            reply = page.locator("#transcript li.kind-model_turn", has_text=f"{mode.title()}: keep clamp() as it is.")
            expect(reply).to_have_count(1)
        shot(page, "modes", "01-steer-and-interrupt-answered")
