"""The pages a team sets up once, in real headless Chromium: a member's notification preferences, a team's webhooks
and their delivery log, and Django's admin with Swarm's models. Every page is watched (tests.browser.session): a
console error (a Content-Security-Policy violation included) or a failed request fails the test. Screenshots land
in test-artifacts/setup-pages-*.png."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser import log_in, session, shot, write_and_launch_task
from tests.git_servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_preferences_webhooks_with_their_delivery_log_and_the_admin_render_cleanly(live_app, browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    silent = free_port()  # nothing listens there: each delivery fails, is logged and tried again
    app = live_app(step_delay=0.3, SWARM_WEBHOOK_HOSTS="127.0.0.1:*", SWARM_NOTIFY_BACKOFF="1")
    with session(browser, app, "setup-pages") as (context, _):
        page = context.new_page()
        log_in(page, app.admin_password)

        page.get_by_role("link", name="Notifications").click()
        page.get_by_label("E-mail address").fill("admin@example.com")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_have_text("Notification preferences saved.")
        shot(page, "setup-pages", "01-preferences", full_page=True)

        page.goto("/notifications/webhooks/")
        page.get_by_label("Name", exact=True).fill("ops")
        page.get_by_label("URL").fill(f"http://127.0.0.1:{silent}/hook")
        page.get_by_role("button", name="Add webhook").click()
        expect(page.locator("#webhook-secret")).to_be_visible()  # the signing secret, this once
        write_and_launch_task(page, "Tell the ops hook", "Linus = sim-lazy")  # submits at once: a verdict waits
        page.goto("/notifications/webhooks/")
        row = page.locator("tr[id^='delivery-']").first
        # until the verdict's delivery is logged: a deadline, not a number of looks (each reload may take seconds
        # on a loaded machine); the expect below fails if it never is
        deadline = time.monotonic() + 120
        while not row.count() and time.monotonic() < deadline:
            page.wait_for_timeout(1_000)
            page.reload()
        expect(row).to_contain_text(re.compile("Connection refused|connection|refused", re.I))
        shot(page, "setup-pages", "02-webhooks-and-delivery-log", full_page=True)

        page.goto("/admin/")
        expect(page.get_by_role("rowheader", name="Agents")).to_be_visible()
        page.goto("/admin/agents/agent/?q=Linus")
        expect(page.locator("#result_list")).to_contain_text("Linus")
        shot(page, "setup-pages", "03-admin-agents", full_page=True)
        page.goto("/admin/judges/verdict/")
        expect(page.locator("#result_list")).to_contain_text("Linus")
        page.goto("/admin/notifications/delivery/")
        expect(page.locator("#result_list")).to_be_visible()
        shot(page, "setup-pages", "04-admin-deliveries", full_page=True)
