"""Reviews at fleet size in real headless Chromium: the queue fills itself as verdicts arrive, a filter narrows
it in place, three approvals at once leave the queue and appear among the past decisions with their links."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser import log_in, session, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

DEMO_TASK = "Fix mean() in mathutil"


def test_the_queue_fills_live_is_filtered_and_three_approvals_move_to_past_decisions(live_app, browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=120_000)
    app = live_app(step_delay=0.5)
    with session(browser, app, "queue") as (context, _):
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        log_in(page, app.admin_password)

        # the queue is open, empty, before anything is launched
        page.goto("/reviews/")
        expect(page.locator("#queue-list .empty")).to_contain_text("Nothing to review")
        expect(page.locator("#nav-reviews")).to_be_hidden()
        queue = page.url

        # launched from another tab: the open queue fills as verdicts arrive, without a reload
        launcher = context.new_page()
        launcher.goto("/")
        launcher.get_by_role("link", name=DEMO_TASK).click()
        launcher.locator("#launch").click()
        expect(launcher.locator(".flash")).to_have_text("Launched 8 agents.")
        launcher.close()
        page.bring_to_front()
        marker = uuid.uuid4().hex
        page.evaluate("m => { window.__noReload = m; }", marker)
        rows = page.locator("#queue-list tbody tr")
        expect(rows).to_have_count(8)
        expect(page.locator("#nav-reviews")).to_have_text("8")  # the navigation's counter follows, live too
        assert page.evaluate("() => window.__noReload") == marker and page.url == queue
        shot(page, "queue", "01-queue-1280", full_page=True)

        # filter in place: only what the panel recommends approving
        approvable = rows.filter(has_text="recommend approve").count()
        assert approvable >= 5  # the diligent five at least
        page.get_by_label("Recommendation").select_option("approve")
        expect(rows).to_have_count(approvable)
        expect(page).to_have_url(re.compile(r"recommendation=approve"))
        assert page.evaluate("() => window.__noReload") == marker

        # select three and approve them at once
        names = [rows.nth(i).locator("td").nth(1).get_by_role("link").inner_text().strip() for i in range(3)]
        for i in range(3):
            rows.nth(i).locator("input[name=ids]").check()
        expect(page.locator("[data-selected-count]")).to_have_text("3 selected")
        shot(page, "queue", "02-three-selected")
        page.get_by_role("button", name="Approve selected").click()
        expect(page.locator(".flash.success")).to_have_text("Approved 3.")
        expect(rows).to_have_count(approvable - 3)  # the filter is kept; the approved three have left
        for name in names:
            expect(page.locator("#queue-list")).not_to_contain_text(name)
        expect(page.locator("#nav-reviews")).to_have_text("5")

        # past decisions: the three, approved by admin, each with its verdict, diff, audit and patch
        page.get_by_role("link", name="Decisions", exact=True).click()
        history = page.locator("#history-list tbody tr")
        expect(history).to_have_count(3)
        for name in names:
            row = history.filter(has=page.get_by_role("link", name=name, exact=True))
            expect(row.locator(".pill")).to_have_text("approved")
            expect(row).to_contain_text("admin")
            expect(row.get_by_role("button", name="patch")).to_be_visible()
        shot(page, "queue", "03-history-1280", full_page=True)
        page.get_by_label("Reviewer").select_option("admin")
        page.get_by_label("Agent").fill(names[0][:3])
        expect(history).to_have_count(1)
        history.first.get_by_role("link", name="audit").click()
        expect(page.locator("#audit")).to_contain_text("merged")
        expect(page.locator("#diff table.code")).to_contain_text("return sum(values) / len(values)")

        for path, name in (("/reviews/", "04-queue-390"), ("/reviews/history/", "05-history-390")):
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(path)
            shot(page, "queue", name, full_page=True)
