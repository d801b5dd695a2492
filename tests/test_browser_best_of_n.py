"""Best of N in real headless Chromium: two simulated model families attempt the same spec; the comparison page shows
both attempts side by side, and approving one closes the other with the reason."""

from __future__ import annotations

import re

import pytest

from tests.browser import log_in, session, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_two_families_are_compared_side_by_side_and_approving_one_closes_the_other(live_app, browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    app = live_app(step_delay=0.3)
    with session(browser, app, "bestof") as (context, _):
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        log_in(page, app.admin_password)

        # two profiles of the simulator, in two families
        for name, family in (("diligent-a", "sim-a"), ("diligent-b", "sim-b")):
            page.goto("/models/new/")
            page.get_by_label("Name", exact=True).fill(name)
            page.get_by_label("Model", exact=True).fill("sim/diligent")
            page.get_by_label("Family").fill(family)
            page.get_by_role("button", name="Add profile").click()
            expect(page.get_by_role("status")).to_have_text(f"Model profile “{name}” added.")

        page.goto("/tasks/new/")
        page.get_by_label("Title").fill("Fix mean, best of two")
        page.get_by_label("Repo").select_option(label="mathutil")
        page.get_by_label("Goal").fill("mean([2, 4, 6]) must be 4.")
        page.get_by_label("Acceptance criteria").fill("The whole test suite passes")
        page.get_by_label("Verify command").fill("python -m pytest -q")
        page.get_by_label("Agents").fill("Ada = diligent-a\nGrace = diligent-b")
        page.get_by_label("best of N").check()
        page.get_by_role("button", name="Save task").click()
        page.get_by_role("button", name=re.compile("Launch 2 agents")).click()
        for name in ("Ada", "Grace"):
            card = page.locator("article.card", has_text=name)
            expect(card.locator(".activity")).to_contain_text("verdict: recommend approve")

        page.reload()  # the link to the comparison is there once launched
        page.get_by_role("link", name="compare the attempts").click()
        expect(page.get_by_role("heading", name="Compare attempts")).to_be_visible()
        ada = page.get_by_role("article", name="Ada's attempt")
        grace = page.get_by_role("article", name="Grace's attempt")
        for attempt, family in ((ada, "sim-a"), (grace, "sim-b")):
            expect(attempt.locator("dl")).to_contain_text(family)
            expect(attempt.locator("dl")).to_contain_text("recommend approve")
            expect(attempt.locator("dl")).to_contain_text("passed")
            expect(attempt.locator("summary", has_text="mathutil.py")).to_be_visible()
        # the two attempts sit side by side
        assert ada.bounding_box()["y"] == grace.bounding_box()["y"]
        ada.locator("summary", has_text="mathutil.py").click()  # the diff unfolds
        expect(ada.locator("table.code")).to_contain_text("return sum(values) / len(values)")
        shot(page, "bestof", "01-compare", full_page=True)

        ada.get_by_role("button", name="Approve Ada's attempt").click()
        expect(page.get_by_role("status")).to_contain_text("Approved Ada's work")
        expect(ada.locator("header .pill")).to_have_text("accepted")
        expect(grace.locator("header .pill")).to_have_text("stopped")
        expect(grace.locator(".reason")).to_have_text("closed: Ada's attempt was approved by admin")
        expect(page.get_by_role("button", name=re.compile("Approve"))).to_have_count(0)
        shot(page, "bestof", "02-approved", full_page=True)

        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        assert ada.bounding_box()["y"] < grace.bounding_box()["y"]  # a row each on a phone
        shot(page, "bestof", "03-approved-390x844", full_page=True)

        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto("/dashboard/")
        families = page.locator("#families")
        expect(families.locator("tr", has_text="sim-a")).to_contain_text("100%")
        expect(families.locator("tr", has_text="sim-b")).to_contain_text("0%")
        shot(page, "bestof", "04-dashboard-families", full_page=True)
