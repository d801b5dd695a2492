"""Replaying a finished run in real headless Chromium: the agent page shows its events again one by one at the
speed chosen (1x, 4x, 16x), from the event log already on the page, and "show all" puts every event back; the
run is then found by its words on the search page, whose results change as you type."""

from __future__ import annotations

import re

import pytest

from tests.browser import log_in, session, shot, write_and_launch_task

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_a_finished_run_is_replayed_at_the_chosen_speed(live_app, browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    app = live_app(step_delay=0.3)
    with session(browser, app, "replay") as (context, watch):
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        log_in(page, app.admin_password)
        write_and_launch_task(page, "Fix mean() lazily", "Lee = sim-lazy")
        card = page.locator("article.card", has_text="Lee")
        expect(card).to_have_attribute("data-status", "awaiting_review")
        card.get_by_role("link", name="Lee", exact=True).first.click()
        expect(page).to_have_url(re.compile(r"/agents/\d+/$"))
        replay = page.get_by_role("group", name="Replay this run")
        expect(replay).to_have_count(0)  # a run still waiting on a person is not finished: nothing to replay yet

        page.get_by_role("button", name="Stop", exact=True).click()
        expect(page.locator(".agent-header .pill").first).to_have_text("stopped")
        expect(replay).to_be_visible()
        events = page.locator("#transcript li.event")
        total = events.count()
        assert total >= 3

        # the click hides every event but the first, synchronously; then they come back in their own rhythm
        hidden = page.evaluate(
            "() => { document.querySelector('[data-replay-speed=\"4\"]').click();"
            " return document.querySelectorAll('#transcript li.event[hidden]').length; }"
        )
        assert hidden == total - 1
        status = replay.locator("[data-replay-status]")
        expect(status).to_have_text(f"Replayed all {total} events at 4×.")
        expect(page.locator("#transcript li.event[hidden]")).to_have_count(0)
        shot(page, "replay", "01-replayed")

        replay.get_by_role("button", name="1×").click()
        expect(status).to_contain_text("Replaying at 1×: event")
        replay.get_by_role("button", name="show all").click()
        expect(status).to_have_text("Showing every event.")
        expect(page.locator("#transcript li.event[hidden]")).to_have_count(0)
        assert events.count() >= total  # none lost by the replay (a live event may join late)
