"""The planner's tree, live, in real headless Chromium: launching the shop task (three defects) with its planner,
the tree page shows the planner, then the three workers it spawns below it with their subtasks and budgets, each
reaching accepted as its work merges into the planner's branch, and the planner's own submission merged into main.
A planner task written on the form is stopped, with everything below it, from its node."""

from __future__ import annotations

import re

import pytest

from tests.browser import log_in, session, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(400)]


def test_the_tree_shows_a_planner_and_its_workers_live_to_the_merge(live_app, browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=240_000)  # a patience under CI's load (a quiet machine: ~50 s)
    app = live_app(step_delay=0.3)
    with session(browser, app, "planner") as (context, _):
        page = context.new_page()
        log_in(page, app.admin_password)
        page.goto("/")
        page.get_by_role("link", name="Fix the shop helpers (planner)").click()
        expect(page.locator("#launch")).to_have_text("Launch the planner")
        # the task page shows the workers the planner spawns after it was loaded, live (no reload: the marker set
        # on this window before the launch, a boosted post, would be gone)
        page.evaluate("window.notReloaded = true")
        task_page = re.compile(r"/tasks/\d+/$")
        with page.expect_response(lambda r: r.request.method == "GET" and task_page.search(r.url)) as loaded:
            page.locator("#launch").click()
        expect(page.locator(".flash")).to_have_text("Launched the planner.")
        expect(page.locator("#swarm .card")).not_to_have_count(0)
        # the cards the page was loaded with, as the server rendered them (counting them on the page later would
        # count the ones that came live since too, on a loaded machine)
        assert loaded.value.text().count('<article class="card') < 4, "the workers were spawned before the page loaded"
        expect(page.locator("#swarm .card")).to_have_count(4)
        for name in ("Ada", "Grace", "Linus"):  # each worker's card, added live, says who spawned it
            expect(page.locator("#swarm .card", has_text=name).locator(".spawned")).to_have_text("spawned by Pat")
        expect(
            page.locator("#swarm .card", has=page.get_by_role("link", name="Pat", exact=True)).locator(
                ".badge.role-planner"
            )
        ).to_have_text("planner")
        assert page.evaluate("window.notReloaded") is True
        shot(page, "planner", "00-task-page-workers", full_page=True)
        page.locator("#tree-link").click()
        expect(page).to_have_url(re.compile(r"/tree/$"))
        pat = page.locator("#tree li.tree-node[data-name='Pat']")
        expect(pat.locator(".badge.role-planner")).to_have_text("planner")
        workers = pat.locator(".tree-level li.tree-node")
        expect(workers).to_have_count(3)  # spawned while the page is open: the tree refreshes itself
        expect(workers.first.locator(".subtask")).to_contain_text("Make tests/test_")
        expect(workers.first.locator(".bars")).to_contain_text("/")
        shot(page, "planner", "01-tree-spawned", full_page=True)
        for name in ("Ada", "Grace", "Linus"):
            expect(pat.locator(f"li.tree-node[data-name='{name}']")).to_have_attribute("data-status", "accepted")
        expect(pat).to_have_attribute("data-status", "accepted")
        expect(pat.locator("> .tree-row .activity")).to_contain_text("merged")
        expect(pat.locator("li.tree-node[data-name='Ada'] details.handoff")).to_be_visible()
        pat.locator("li.tree-node[data-name='Ada'] details.handoff summary").click()
        expect(pat.locator("li.tree-node[data-name='Ada'] details.handoff")).to_contain_text("Unsure:")
        shot(page, "planner", "02-tree-merged", full_page=True)

        # to the worker's page by its node's link (the tree is redrawn every 2 s: a click may race the redraw)
        page.goto(pat.locator("li.tree-node[data-name='Grace'] > .tree-row a.agent-name").get_attribute("href"))
        expect(page.locator("#planner-info")).to_contain_text("spawned by Pat")
        expect(page.locator("#handoff")).to_contain_text("Changed:")
        shot(page, "planner", "03-worker-page", full_page=True)


def test_a_planner_task_written_on_the_form_is_stopped_with_its_subtree(live_app, browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=240_000)  # a patience under CI's load (a quiet machine: ~50 s)
    app = live_app(step_delay=1.0)
    with session(browser, app, "planner-form") as (context, _):
        page = context.new_page()
        log_in(page, app.admin_password)
        page.goto("/tasks/new/")
        page.get_by_label("Title").fill("Planned on the form")
        page.get_by_label("Repo").select_option(label="shop")
        page.get_by_label("Goal").fill("Make the whole suite pass.")
        page.get_by_label("Acceptance criteria").fill("The whole test suite passes")
        page.get_by_label("Verify command").fill("python -m pytest -q")
        page.get_by_label("Planner", exact=True).select_option("sim-planner")
        page.get_by_role("group", name="Or a planner").get_by_label("sim-fixer").check()
        shot(page, "planner-form", "01-form", full_page=True)
        page.get_by_role("button", name="Save task").click()
        page.locator("#launch").click()
        page.locator("#tree-link").click()
        planner = page.locator("#tree li.tree-node[data-name='Planner']")
        expect(planner.locator(".tree-level li.tree-node")).to_have_count(3)
        page.once("dialog", lambda dialog: dialog.accept())
        # dispatched where the button is at that instant: the tree is redrawn every 2 s, and a click may race a redraw
        planner.locator("> .tree-row button", has_text="Stop subtree").dispatch_event("click")
        expect(page.locator(".flash")).to_contain_text("Stopped 4 agents: Planner and below.")
        expect(page.locator("#tree li.tree-node[data-status='stopped']")).to_have_count(4)
        shot(page, "planner-form", "02-stopped", full_page=True)
