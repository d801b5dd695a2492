"""Task files in real headless Chromium: an admin imports a task file on the tasks page, lands on the new task and
exports it; a file the server refuses is named with why, on the tasks page. Screenshots in test-artifacts/."""

from __future__ import annotations

import pytest

from tests.browser import log_in, session, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

FILE = """\
repository: mathutil
title: Imported from a file
goal: mean([2, 4, 6]) should be 4.
acceptance:
  - mean([2, 4, 6]) == 4
verify: python -m pytest -q
roster: [2 x sim-diligent]
budgets: {minutes: 7}
"""


def test_an_admin_imports_a_task_file_and_exports_the_task(browser, live_app, tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    app = live_app()
    good, bad = tmp_path / "fix-mean.yaml", tmp_path / "elsewhere.yaml"
    good.write_text(FILE)
    bad.write_text(FILE.replace("mathutil", "nowhere"))
    with session(browser, app, "taskfile") as (context, watch):
        page = context.new_page()
        log_in(page, app.admin_password)
        shot(page, "taskfile", "01-tasks-page", full_page=True)

        page.get_by_label("Import task file").set_input_files(str(bad))
        page.get_by_role("button", name="Import", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text(
            "elsewhere.yaml was not imported: repository is not a repository of your team"
        )
        shot(page, "taskfile", "02-refused")

        page.get_by_label("Import task file").set_input_files(str(good))
        page.get_by_role("button", name="Import", exact=True).click()
        expect(page.get_by_role("heading", name="Imported from a file")).to_be_visible()
        expect(page.get_by_role("status")).to_contain_text("imported from fix-mean.yaml")
        expect(page.get_by_role("button", name="Launch 2 agents")).to_be_visible()
        shot(page, "taskfile", "03-imported")

        with page.expect_download() as download:
            page.get_by_role("link", name="Export").click()
        text = download.value.path().read_text()
        assert download.value.suggested_filename.endswith(".yaml")
        assert "title: Imported from a file" in text and "minutes: 7" in text and "profile: sim-diligent" in text
