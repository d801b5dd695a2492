"""The human gate in real headless Chromium: a wrong fix is rejected with a line comment, the right one merged."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.browser import log_in, session, shot, write_and_launch_task
from tests.live_server import BIN

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_a_wrong_fix_is_rejected_with_a_line_comment_and_the_corrected_one_is_merged(live_app, browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    app = live_app(step_delay=0.3)
    with session(browser, app, "review") as (context, _):
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        log_in(page, app.admin_password)
        write_and_launch_task(page, "Fix mean() with one sloppy agent", "Sam = sim-sloppy")
        card = page.locator("article.card", has_text="Sam")
        expect(card).to_have_attribute("data-status", "awaiting_review")
        expect(card.locator(".activity")).to_contain_text("verdict: recommend reject")  # live, once judged
        task_url = page.url

        # the panel recommends reject, with the failing test as evidence
        page.goto("/reviews/")
        row = page.locator("#queue-list tbody tr", has=page.get_by_role("link", name="Sam", exact=True))
        expect(row.locator(".pill").first).to_have_text("recommend reject")
        row.get_by_role("link", name="Review", exact=True).click()
        verdict = page.locator("article.verdict")
        expect(verdict.locator("pre.result")).to_contain_text("FAILED tests/test_mathutil.py::test_mean")
        expect(page.locator("table.code")).to_contain_text("len(values) - 0.5")
        shot(page, "review", "01-wrong-fix-diff")

        # an inline comment on the changed line, sent with the rejection
        page.locator("td.add").first.locator("xpath=..").locator("button.linebtn").click()
        page.locator("textarea[name=line_comment]").fill("Divide by len(values); the -0.5 is a guess.")
        page.get_by_role("button", name="Reject").click()
        expect(page.locator(".decided")).to_contain_text("Rejected by admin")

        # the agent takes the feedback, resubmits, and the panel now recommends approve
        page.goto(task_url)
        expect(card.locator(".activity")).to_contain_text("verdict: recommend approve")
        page.goto("/reviews/")
        row = page.locator("#queue-list tbody tr", has=page.get_by_role("link", name="Sam", exact=True))
        expect(row.locator(".pill").first).to_have_text("recommend approve")
        row.get_by_role("link", name="Review", exact=True).click()
        verdict = page.locator("article.verdict")
        sam_link = verdict.get_by_role("link", name="Sam", exact=True).get_attribute("href")
        verdict.get_by_role("button", name="Approve").click()
        expect(verdict.locator(".decided")).to_contain_text("Approved by admin")
        shot(page, "review", "02-approved")

        page.goto(sam_link)
        transcript = page.locator("#transcript")
        feedback = transcript.locator("li.kind-message", has_text="rejected your submission")
        expect(feedback).to_contain_text("mathutil.py line")
        expect(feedback).to_contain_text("Divide by len(values); the -0.5 is a guess.")
        expect(page.locator(".agent-header .pill").first).to_have_text("accepted")
        shot(page, "review", "03-agent-accepted")

    # the target branch has the fix, and its tests pass there
    repo = next((app.data_dir / "repos").glob("demo-*"))
    source = subprocess.run(
        ["git", "-C", str(repo), "show", "main:mathutil.py"], capture_output=True, text=True, check=True
    ).stdout
    assert "return sum(values) / len(values)" in source
    checkout = app.data_dir / "main-checkout"
    subprocess.run(["git", "clone", "-q", str(repo), str(checkout)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    tests = subprocess.run(
        [str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django"],
        cwd=checkout,
        capture_output=True,
        text=True,
        env=env,
    )
    assert tests.returncode == 0 and "5 passed" in tests.stdout, tests.stdout + tests.stderr
