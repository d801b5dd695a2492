"""A supervisor's whole session in real headless Chromium against the real app, embedded and distributed.

The app runs as a user runs it (tests/live_server.py): migrate, seed_demo, daphne, plus a Celery worker on real
Redis and PostgreSQL in the distributed mode. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser import log_in, session, shot
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

# Slow enough that a diligent agent (7 steps) is still working when we message it, fast enough for CI.
STEP_DELAY = 1.5
# patience for what the swarm does live: the last of 8 verifications (two at a time, ~20 s each on a loaded CI
# machine) took over 120 s in CI
LIVE_WAIT_MS = 240_000
DEMO_TASK = "Fix mean() in mathutil"
DEMO_AGENTS = ["Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Ken", "Radia"]


@pytest.mark.parametrize("mode", ["embedded", pytest.param("distributed", marks=pytest.mark.distributed)])
def test_a_supervisor_launches_watches_messages_and_reviews_a_swarm_live(mode, live_app, browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    app = live_app(mode, step_delay=STEP_DELAY)
    with session(browser, app, mode) as (context, watch):
        page = context.new_page()
        dialogs: list[str] = []
        log_in(page, app.admin_password)
        _write_taste_guide_and_task(page, mode, watch)
        task_url, ids = _launch_demo(page, mode)
        marker = uuid.uuid4().hex
        page.evaluate("m => { window.__noReload = m; }", marker)

        ada_page = context.new_page()
        _message_ada_while_she_works(ada_page, ids["Ada"], mode)

        page.bring_to_front()
        _watch_every_card_change_live(page, marker, ids, mode)

        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
        _reject_linus_and_approve_grace(page, ids, mode, dialogs)
        _see_linus_back_at_work(page, ids["Linus"], mode)

        page.goto(task_url)
        expect(page.locator(f"#agent-{ids['Grace']}-card")).to_have_attribute("data-status", "accepted")
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        expect(page.locator("article.card")).to_have_count(8)
        shot(page, mode, "10-task-page-390x844")
        page.set_viewport_size({"width": 1280, "height": 800})

    if mode == "distributed":
        # 5 diligent agents x 7 steps, the quitter's 8 and the lazy ones' 1 each: all in the worker
        ran = re.findall(r"Task agents\.step\[[0-9a-f-]+\] succeeded", app.log("celery"))
        assert len(ran) >= 45, f"the Celery worker ran {len(ran)} steps"
    for name in ("daphne", "celery"):
        assert "Traceback" not in app.log(name), f"{name} logged a traceback"


def _write_taste_guide_and_task(page, mode: str, watch) -> None:
    from playwright.sync_api import expect

    guide = f"Browser taste {mode}"
    page.goto("/taste/new/")
    page.get_by_label("Name").fill(guide)
    page.get_by_label("Rules").fill("Name things for what they do.\nNo print debugging left behind.")
    expect(page.locator("#rules-preview li")).to_have_count(2)
    expect(page.locator("#rules-preview li").first).to_have_text("Name things for what they do.")
    page.get_by_role("button", name="Save taste guide").click()
    expect(page).to_have_url(re.compile(r"/taste/$"))
    expect(page.locator(".flash")).to_contain_text(f"Taste guide “{guide}” saved.")
    section = page.locator("section.panel", has=page.get_by_role("heading", name=guide))
    expect(section.locator("li")).to_have_text(["Name things for what they do.", "No print debugging left behind."])
    shot(page, mode, "01-taste-guides")

    title = f"Keep digits in slugify ({mode})"
    page.goto("/tasks/new/")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Repo").select_option(label="mathutil")
    page.get_by_label("Acceptance criteria").fill("slugify('Route 66') == 'route-66'\nThe whole suite passes")
    page.get_by_label("Agents").fill("Ada = sim-diligent")
    watch.expect(400, "/tasks/new/")  # sent without a goal on purpose
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/tasks/new/")) as posted:
        page.get_by_role("button", name="Save task").click()
    assert posted.value.status == 400
    expect(page.locator("#id_goal-error")).to_have_text("Say what the agents should achieve.")
    expect(page.get_by_role("alert").first).to_contain_text("nothing was saved yet")
    expect(page.get_by_label("Agents")).to_have_value("Ada = sim-diligent")  # what was typed survives
    shot(page, mode, "02-task-form-error")

    page.get_by_label("Goal").fill("Make `slugify()` **keep digits**, so *Route 66* stays recognisable.")
    expect(page.locator("#goal-preview strong")).to_have_text("keep digits")
    expect(page.locator("#goal-preview code")).to_have_text("slugify()")
    expect(page.locator("#acceptance-preview li")).to_have_count(2)
    page.get_by_label(guide).check()
    page.locator("#goal-preview").scroll_into_view_if_needed()
    shot(page, mode, "03-task-form-preview")
    page.get_by_role("button", name="Save task").click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator(".flash")).to_contain_text(f"Task “{title}” saved.")
    expect(page.locator(".spec .prose strong")).to_have_text("keep digits")
    expect(page.locator(".spec")).to_contain_text(guide)
    expect(page.locator(".spec")).to_contain_text("Ada (sim-diligent)")
    expect(page.locator("#launch")).to_have_text("Launch 1 agents")


def _launch_demo(page, mode: str) -> tuple[str, dict[str, int]]:
    from playwright.sync_api import expect

    page.goto("/")
    page.get_by_role("link", name=DEMO_TASK).click()
    expect(page.locator("#launch")).to_have_text("Launch 8 agents")
    page.locator("#launch").click()
    expect(page.locator(".flash")).to_have_text("Launched 8 agents.")
    cards = page.locator("article.card")
    expect(cards).to_have_count(8)
    expect(page.locator("#swarm")).to_have_attribute("data-connected", "1")
    pairs = page.eval_on_selector_all(
        "article.card", "cards => cards.map(c => [c.querySelector('.agent-name').textContent.trim(), c.id])"
    )
    ids = {name: int(re.match(r"agent-(\d+)-card", card_id).group(1)) for name, card_id in pairs}
    assert sorted(ids) == sorted(DEMO_AGENTS)
    shot(page, mode, "04-swarm-just-launched")
    return page.url, ids


def _message_ada_while_she_works(page, ada_id: int, mode: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"/agents/{ada_id}/")
    transcript = page.locator("#transcript")
    expect(transcript).to_have_attribute("data-connected", "1")
    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the page were reloaded
    # still at work (on a loaded machine she may still be preparing when the page shows): the message goes at once,
    # while she has steps left (waiting for the transcript to grow first left her fewer of them)
    expect(page.locator(f"#agent-{ada_id}-status")).to_have_text("running", timeout=60_000)

    text = f"Keep clamp() exactly as it is, please ({mode} browser test)."
    page.locator("#message-text").fill(text)
    page.locator("#send-message").click()
    expect(page.locator("#message-text")).to_have_value("")  # the form came back empty: accepted
    message = transcript.locator("li.kind-message", has_text=text)
    expect(message).to_have_count(1)
    expect(message).to_contain_text("message from admin")
    receipt = message.locator(".receipt")
    receipt_id = receipt.get_attribute("id")
    assert re.fullmatch(r"message-\d+-receipt", receipt_id or "")
    expect(page.locator(f"#{receipt_id}")).to_have_text("answered", timeout=LIVE_WAIT_MS)
    seen = page.evaluate("id => window.__receipts[id]", receipt_id)
    assert seen == ["queued", "delivered", "answered"], seen
    reply = transcript.locator("li.kind-model_turn", has_text=f'I read your message ("{text}")')
    expect(reply).to_have_count(1)
    expect(reply).to_contain_text("Ada here")
    # her answer came over the websocket: the page shown is the one loaded before the message, never reloaded
    assert page.evaluate("() => window.__sameDocument === true")
    reply.scroll_into_view_if_needed()
    shot(page, mode, "05-agent-ada-answered-a-message")


def _watch_every_card_change_live(page, marker: str, ids: dict[str, int], mode: str) -> None:
    from playwright.sync_api import expect

    page.wait_for_function(
        "() => { const cards = [...document.querySelectorAll('article.card')];"
        " return cards.length === 8 && cards.every(c => c.dataset.status === 'awaiting_review'"
        " && c.querySelector('.activity').textContent.startsWith('verdict:')); }",
        timeout=LIVE_WAIT_MS,
    )
    assert page.evaluate("() => window.__noReload") == marker, "the task page reloaded"
    history = page.evaluate("() => window.__cards")
    for name, pk in ids.items():
        seen = history[f"agent-{pk}-card"]
        # preparing while its worktree is made (it may be ready before the page is), then live to the review
        assert seen[0] in {"preparing", "running"} and "running" in seen, f"{name}'s card showed {seen}"
        assert seen[-1] == "awaiting_review", f"{name}'s card showed {seen}"
    expect(page.locator("#attention .chip")).to_have_count(8)
    expect(page.locator(f"#agent-{ids['Linus']}-card .activity")).to_contain_text("recommend reject")
    expect(page.locator(f"#agent-{ids['Ada']}-card .activity")).to_contain_text("recommend approve")
    shot(page, mode, "06-swarm-all-awaiting-review")


def _reject_linus_and_approve_grace(page, ids: dict[str, int], mode: str, dialogs: list[str]) -> None:
    from playwright.sync_api import expect

    page.goto("/reviews/")
    rows = page.locator("#queue-list tbody tr")
    expect(rows).to_have_count(8)  # one line each; the full review is one click away
    shot(page, mode, "07-review-queue")

    comment = "You changed nothing: find why mean() divides by n-1 and fix it."
    row = rows.filter(has=page.get_by_role("link", name="Linus", exact=True))
    expect(row.locator(".pill").first).to_have_text("recommend reject")
    rejected = row.get_attribute("data-verdict")
    # to the verdict by its row's link (the list is redrawn by its poll every 4 s: a click may race a redraw)
    page.goto(row.get_by_role("link", name="Review", exact=True).get_attribute("href"))
    linus = page.locator("article.verdict")
    expect(linus.locator("header .pill")).to_have_text("recommend reject")
    linus.get_by_label(re.compile("Comment")).fill(comment)
    linus.get_by_role("button", name="Reject").click()
    expect(linus.locator(".decided")).to_contain_text("Rejected by admin")
    assert dialogs[-1] == "Reject and send the reasons to Linus?"
    shot(page, mode, "08-review-rejected")

    page.goto("/reviews/")
    row = rows.filter(has=page.get_by_role("link", name="Grace", exact=True))
    expect(row.locator(".pill").first).to_have_text("recommend approve")
    approved = row.get_attribute("data-verdict")
    page.goto(row.get_by_role("link", name="Review", exact=True).get_attribute("href"))
    grace = page.locator("article.verdict")
    grace.get_by_role("button", name="Approve").click()
    expect(grace.locator(".decided")).to_contain_text("Approved by admin")
    assert dialogs[-1] == "Approve Grace's work?"
    page.goto("/reviews/")
    # the two decided verdicts left the queue; the six others still wait, and the navigation counts what waits.
    # Linus, rejected, is back at work: lazy, he submits again at his first step, so his new verdict may be in the
    # queue already (a seventh line, not the verdict rejected)
    expect(page.locator(f"#queue-row-{rejected}, #queue-row-{approved}")).to_have_count(0)
    others = sorted(set(DEMO_AGENTS) - {"Linus", "Grace"})

    def the_others_wait() -> bool:
        names = rows.evaluate_all("trs => trs.map(tr => tr.querySelector('a[href^=\"/agents/\"]').textContent.trim())")
        waiting = sorted(name for name in names if name != "Linus")
        return (
            waiting == others
            and names.count("Linus") <= 1
            and page.locator("#nav-reviews").inner_text() == str(len(names))
        )

    wait_until(
        the_others_wait, "the six undecided verdicts (and Linus's new one, if any) counted in the navigation", 60
    )


def _see_linus_back_at_work(page, linus_id: int, mode: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"/agents/{linus_id}/")
    transcript = page.locator("#transcript")
    feedback = transcript.locator("li.kind-message", has_text="You changed nothing")
    expect(feedback).to_have_count(1)
    expect(feedback).to_contain_text("message from admin")
    expect(feedback).to_contain_text("rejected your submission")
    expect(transcript.locator("li.kind-status", has_text="rejected by admin; back to work")).to_have_count(1)
    expect(feedback.locator(".receipt")).to_have_text("answered", timeout=LIVE_WAIT_MS)
    reply = transcript.locator("li.kind-model_turn", has_text="I read your message")
    expect(reply).to_have_count(1)
    expect(reply).to_contain_text("You changed nothing")
    feedback.scroll_into_view_if_needed()
    shot(page, mode, "09-agent-linus-back-at-work")
