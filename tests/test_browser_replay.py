"""Replaying a run that is not working (awaiting review, stopped) in real headless Chromium: the agent page shows its events again one by one at the
speed chosen (1x, 4x, 16x), from the event log already on the page; pause holds it, the slider jumps to any event
and resume (or another speed) goes on from there; "show all" puts every event back. The run is then found by its words on the search
page, whose results change as you type."""

from __future__ import annotations

import json
import re

import pytest

from benchmarks.live_receipts import http
from tests.browser import log_in, session, shot, write_and_launch_task
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def _logged_events(app, token: str, agent_id: int) -> int:
    """How many events the agent's log holds, by the API (its events "as the browser sees them")."""
    count, after, more = 0, 0, True
    while more:
        status, body = http(app.port, f"/api/agents/{agent_id}/events?after={after}", token=token)
        assert status == 200, body
        page = json.loads(body)
        count, after, more = count + len(page["events"]), page["next_after"], page["more"]
    return count


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
        # to the agent's page by its card's link (a click races the live frames that redraw the card while the
        # verification's events come in)
        page.goto(card.get_by_role("link", name="Lee", exact=True).first.get_attribute("href"))
        expect(page).to_have_url(re.compile(r"/agents/\d+/$"))
        agent_id = int(re.search(r"/agents/(\d+)/$", page.url).group(1))
        replay = page.get_by_role("group", name="Replay this run")
        expect(replay).to_be_visible()  # a run awaiting review is not working: a reviewer may replay it

        # dispatched where the button is at that instant: the header it is in is redrawn by every live event
        page.get_by_role("button", name="Stop", exact=True).dispatch_event("click")
        expect(page.locator(".agent-header .pill").first).to_have_text("stopped")
        expect(replay).to_be_visible()
        # the log is complete once the verdict is in (the verification begun before the stop still brings it)
        expect(page.locator("#transcript li.event.kind-verdict")).to_have_count(1)
        events = page.locator("#transcript li.event")
        # and every event of the log is on the page (the counts below are exact: a live event still on its way
        # would join the replay mid-way), the log's count read again once they are
        token = app.manage("api_token", "admin").strip()

        def page_has_the_whole_log() -> bool:
            logged = _logged_events(app, token, agent_id)
            return events.count() == logged and _logged_events(app, token, agent_id) == logged

        wait_until(page_has_the_whole_log, "the page showing every event of the stopped run's log", 60, poll=0.5)
        total = events.count()
        assert total >= 3

        # the click hides every event but the first, synchronously; then they come back in their own rhythm
        total_then, hidden = page.evaluate(
            "() => { const total = document.querySelectorAll('#transcript li.event').length;"
            " document.querySelector('[data-replay-speed=\"4\"]').click();"
            " return [total, document.querySelectorAll('#transcript li.event[hidden]').length]; }"
        )
        assert total_then == total and hidden == total - 1
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

        # pause holds the replay where it is: the count stops advancing
        page.evaluate(
            "() => { document.querySelector('[data-replay-speed=\"1\"]').click();"
            " document.querySelector('[data-replay-pause]').click(); }"
        )
        logged = page.locator("#transcript li.event[data-seq]")
        shown = page.locator("#transcript li.event[data-seq]:not([hidden])")
        n = logged.count()
        expect(status).to_have_text(f"Paused at event 1 of {n}.")
        page.wait_for_timeout(1500)
        expect(shown).to_have_count(1)
        expect(status).to_have_text(f"Paused at event 1 of {n}.")

        # the slider jumps to the middle: exactly the events up to it, and which one it is with its time
        middle = (n + 1) // 2
        replay.get_by_label("Event", exact=True).fill(str(middle))
        expect(shown).to_have_count(middle)
        assert logged.evaluate_all("lis => lis.map(li => li.hidden)") == [False] * middle + [True] * (n - middle)
        clock = logged.nth(middle - 1).locator("time").inner_text()
        expect(replay.locator("[data-replay-position]")).to_have_text(f"event {middle} of {n} · {clock}")
        expect(status).to_have_text(f"Paused at event {middle} of {n}.")
        shot(page, "replay", "02-paused-midway")

        # an event arriving live meanwhile joins the end of the replay, hidden until the replay gets there
        page.evaluate(
            """(n) => { const all = document.querySelectorAll("#transcript li.event[data-seq]");
              const last = all[all.length - 1], late = last.cloneNode(true); late.id = "late-event"; late.dataset.seq = String(n + 1);
              last.after(late); }""",
            n,
        )
        expect(status).to_have_text(f"Paused at event {middle} of {n + 1}.")
        expect(shown).to_have_count(middle)

        # a speed chosen mid-replay goes on from where it is (it started again from event 1 before)
        shown_then = page.evaluate(
            "() => { document.querySelector('[data-replay-speed=\"4\"]').click();"
            " document.querySelector('[data-replay-pause]').click();"
            " return document.querySelectorAll('#transcript li.event[data-seq]:not([hidden])').length; }"
        )
        assert shown_then == middle + 1
        expect(status).to_have_text(f"Paused at event {middle + 1} of {n + 1}.")

        # resume goes on from there to the end
        replay.get_by_role("button", name="resume").click()
        expect(status).to_have_text(f"Replayed all {n + 1} events at 4×.")
        expect(page.locator("#transcript li.event[hidden]")).to_have_count(0)
        expect(replay.get_by_role("button", name="pause")).to_be_disabled()

        # the same run is found by its words on the search page, the match marked, as you type
        page.get_by_role("link", name="Search", exact=True).click()
        page.get_by_label("Words").fill("finished")
        hit = page.locator(".search-hit", has_text="Lee").first
        expect(hit.locator("mark")).to_have_text(re.compile("finished", re.I))
        watch.expect(400, "/reviews/search/")  # a malformed query is a 400 that says why
        page.get_by_label("Words").fill('"unclosed')
        expect(page.get_by_role("alert")).to_contain_text("Q has a quote that is not closed")
        page.get_by_label("Words").fill("finished")
        expect(hit).to_be_visible()
        shot(page, "replay", "03-search")


def test_words_typed_the_instant_the_search_page_appears_are_searched(live_app, browser):
    """The search page comes in by hx-boost: what a person types into it as soon as it shows is searched (htmx wired
    a swapped-in page only after its 20 ms settle delay, and typing in that gap was lost: the search step above
    failed now and then for it, Playwright's fill landing there)."""
    from playwright.sync_api import expect

    app = live_app()
    with session(browser, app, "search-early") as (context, watch):
        page = context.new_page()
        log_in(page, app.admin_password)
        # the words go in on the mutation that brings the form in, before anything else the page does runs
        page.evaluate(
            """() => {
              new MutationObserver((_, observer) => {
                const box = document.getElementById("search-q");
                if (!box) return;
                observer.disconnect();
                box.value = "mathutil";
                box.dispatchEvent(new Event("input", { bubbles: true }));
              }).observe(document.body, { childList: true, subtree: true });
              document.getElementById("nav-search").click();
            }"""
        )
        expect(page.get_by_label("Words")).to_have_value("mathutil")
        expect(page.get_by_role("region", name="Search results")).to_contain_text("found", timeout=15_000)
        expect(page).to_have_url(re.compile(r"/reviews/search/\?q=mathutil"))
