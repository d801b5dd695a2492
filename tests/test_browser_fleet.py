"""A supervisor at fleet size, in real headless Chromium: 300 running agents on one task; filter, sort, select 50 and
message them, then every agent the filter keeps, open one agent. The page never holds more than a page of rows.

The agents are written straight to the app's database (tests/factories.make_fleet): they hold a lease nobody releases,
so no step of theirs runs, and the page is all there is to watch. Screenshots land in test-artifacts/fleet-*.png.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.browser import log_in, session, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

FLEET = 300
PAGE = 50
MARGIN = 10  # rows the page may hold beyond one page: none are expected, a little slack for group headings
SEED = """
import django
django.setup()
from agents.models import TaskSpec
from tests.factories import make_fleet
print(make_fleet(TaskSpec.objects.get(title="Fix mean() in mathutil"), {n}, title="Three hundred agents").pk)
"""
ROWS = "table.fleet-table tbody tr[id$='-card']"
# the patience of each expectation here, given with each: `expect.set_options` would hold for every module after this
# one in the process too
WAIT = 10_000


def rows_held(page) -> int:
    return page.locator("tr[id$='-card']").count()


def timed(timings: dict, name: str, action, check) -> None:
    started = time.monotonic()
    action()
    check()
    timings[name] = time.monotonic() - started


def test_a_supervisor_filters_sorts_selects_and_messages_300_agents(live_app, browser):
    from playwright.sync_api import expect

    app = live_app("embedded")
    task_id = int(app.python("-c", SEED.format(n=FLEET)).strip().splitlines()[-1])
    timings: dict[str, float] = {}
    with session(browser, app, "fleet") as (context, _watch):
        page = context.new_page()
        log_in(page, app.admin_password)
        timed(
            timings,
            "open",
            lambda: page.goto(f"/tasks/{task_id}/"),
            lambda: expect(page.locator(ROWS)).to_have_count(PAGE, timeout=WAIT),
        )
        expect(page.locator(".table-meta")).to_contain_text(f"1–{PAGE} of {FLEET}", timeout=WAIT)
        expect(page.locator("#attention .chip")).to_have_count(12, timeout=WAIT)
        expect(page.locator("#attention")).to_contain_text("more waiting", timeout=WAIT)
        expect(page.locator("#swarm")).to_have_attribute("data-connected", "1", timeout=WAIT)
        shot(page, "fleet", "01-task-page", full_page=True)

        # filter: the running ones (half of them)
        status = page.get_by_label("Status", exact=True)
        timed(
            timings,
            "filter",
            lambda: status.select_option("running"),
            lambda: expect(page.locator(".table-meta")).to_contain_text(f"of {FLEET // 2} matching", timeout=WAIT),
        )
        assert set(page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.status)")) == {"running"}
        assert re.search(r"status=running", page.url)

        # sort: by tokens, biggest first (a second click turns the order round)
        tokens = page.locator("th a", has_text="Tokens")
        timed(
            timings,
            "sort",
            tokens.click,
            lambda: expect(page.locator("th[aria-sort=ascending]")).to_have_text("Tokens ▲", timeout=WAIT),
        )
        timed(
            timings,
            "sort again",
            lambda: page.locator("th a", has_text="Tokens").click(),
            lambda: expect(page.locator("th[aria-sort=descending]")).to_have_text("Tokens ▼", timeout=WAIT),
        )
        shown = [int(t) for t in page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.tokens)")]
        assert shown == sorted(shown, reverse=True) and len(shown) == PAGE

        # select the 50 on this page and message them
        timed(
            timings,
            "select 50",
            lambda: page.get_by_label("Select every agent on this page").check(),
            lambda: expect(page.locator("#selected-count")).to_have_text(f"{PAGE} selected", timeout=WAIT),
        )
        page.get_by_label("Message to the selected agents").fill("Wrap up within ten minutes, please.")
        timed(
            timings,
            "message 50",
            lambda: page.locator("#bulk-form button[value=message]").click(),
            lambda: expect(page.locator("#bulk-outcome")).to_have_text(f"Messaged {PAGE}.", timeout=WAIT),
        )
        on_page = set(page.locator(ROWS).evaluate_all("rows => rows.map(r => r.id)"))
        assert len(on_page) == PAGE

        # every running agent: each message sends its row to the page over the socket; only this page's rows stay
        page.evaluate(
            """() => {
              window.__swapped = 0;
              new MutationObserver((ms) => ms.forEach((m) => m.addedNodes.forEach((n) => {
                if (n.id && n.id.endsWith('-card')) window.__swapped++;
              }))).observe(document.querySelector('#swarm'), { childList: true, subtree: true });
            }"""
        )
        page.get_by_label(re.compile(r"all \d+ matching")).check()
        expect(page.locator("#selected-count")).to_have_text(f"all {FLEET // 2} matching selected", timeout=WAIT)
        page.get_by_label("Message to the selected agents").fill("One more thing: run the whole suite.")
        page.locator("#bulk-form button[value=message]").click()
        expect(page.locator("#bulk-outcome")).to_have_text(f"Messaged {FLEET // 2}.", timeout=WAIT)
        page.wait_for_function("() => window.__swapped >= 1")  # the live frames arrived (rows updated in place)
        page.wait_for_timeout(1500)  # and any later frame of the 150
        held = set(page.locator("tr[id$='-card']").evaluate_all("rows => rows.map(r => r.id)"))
        assert len(held) <= PAGE + MARGIN
        assert held == on_page, "a row that is not on this page was inserted"
        shot(page, "fleet", "02-filtered-sorted-messaged")

        # someone pauses an agent of this page from its own page: its row changes in place, is marked, and the
        # page offers a refresh rather than moving rows under the reader's eyes
        moved = page.locator(ROWS).nth(3)
        moved_id = moved.get_attribute("id")
        other = context.new_page()
        other.goto(f"/agents/{moved_id.split('-')[1]}/")
        other.get_by_role("button", name="Pause").click()
        expect(other.locator(".agent-header .pill")).to_have_text("paused", timeout=WAIT)
        other.close()
        expect(page.locator(f"#{moved_id}")).to_have_attribute("data-status", "paused", timeout=WAIT)
        expect(page.locator(f"#{moved_id}")).to_have_class(re.compile(r"\bmoved\b"), timeout=WAIT)
        expect(page.locator("#fleet-moved")).to_have_text("Rows changed since shown: 1 · refresh", timeout=WAIT)
        assert page.locator(ROWS).nth(3).get_attribute("id") == moved_id  # still in its place
        shot(page, "fleet", "03-row-changed-live")
        page.locator("#fleet-moved").click()
        expect(page.locator(f"#{moved_id}")).to_have_count(0, timeout=WAIT)  # no longer running: out of this view
        expect(page.locator("#fleet-moved")).to_be_hidden(timeout=WAIT)

        # open one agent
        first = page.locator(ROWS).first.locator("td a").first
        name = first.inner_text()
        timed(
            timings,
            "open agent",
            first.click,
            lambda: expect(page.get_by_role("heading", level=1)).to_contain_text(name, timeout=WAIT),
        )
        expect(page.locator("#transcript")).to_contain_text("One more thing: run the whole suite.", timeout=WAIT)

        page.goto("/dashboard/")
        expect(page.locator("figure.chart")).to_have_count(5, timeout=WAIT)
        expect(page.locator("figure[data-chart=agents-by-status] polygon")).not_to_have_count(0, timeout=WAIT)
        shot(page, "fleet", "04-dashboard", full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"/tasks/{task_id}/?group=status")
        expect(page.locator("tr.group-row").first).to_contain_text("error", timeout=WAIT)
        shot(page, "fleet", "05-task-page-390x844")
        page.locator("#fleet-status").scroll_into_view_if_needed()
        shot(page, "fleet", "06-task-table-390x844")
    print("interaction times (s):", {k: round(v, 2) for k, v in timings.items()})
