"""A person keeps the team's skills in real headless Chromium: writes one with a live preview (refused in place while
its name is wrong; what it holds is shown sanitised), edits it into a second version and reads the first again,
exports the library, deletes the skill and imports the export back, then imports a skill's folder. Any console error,
failed request or error status fails the test, except the refusal it provokes. Screenshots land in test-artifacts/."""

from __future__ import annotations

import zipfile

import pytest

from tests.browser import log_in, session, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

GOOD = """---
name: careful-review
description: Review a diff line by line before submitting. Use before every submit.
---

# Careful review

1. Read the **whole** diff.
2. Run the verify command.

<script>window.__owned = 1</script><img src=x onerror="window.__owned = 2">
"""


def test_a_person_writes_edits_exports_deletes_and_imports_skills(browser, live_app, tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    app = live_app()
    with session(browser, app, "skills") as (context, watch):
        page = context.new_page()
        log_in(page, app.admin_password)
        page.locator("#nav-skills").click()
        expect(page.get_by_role("heading", name="Skills")).to_be_visible()
        expect(page.locator("#skills")).to_contain_text("reproduce-first")
        expect(page.locator("#skills")).to_contain_text("small-diff")
        shot(page, "skills", "01-library")

        page.get_by_role("link", name="New skill").click()
        editor = page.get_by_label("SKILL.md")
        editor.fill(GOOD.replace("careful-review", "Careful Review"))
        expect(page.locator("#skill-preview")).to_contain_text("may hold only lowercase letters, digits")
        watch.expect(400, "/skills/new/")
        page.get_by_role("button", name="Save skill").click()
        expect(page.locator("#skill-error")).to_contain_text(
            "Nothing was saved: name may hold only lowercase letters, digits and single hyphens, not at its start or"
            " end ('Careful Review')"
        )
        shot(page, "skills", "02-refused-in-place")
        page.get_by_label("SKILL.md").fill(GOOD)
        preview = page.locator("#skill-preview")
        expect(preview.locator("strong", has_text="careful-review")).to_be_visible()
        expect(preview.locator("h1")).to_have_text("Careful review")
        expect(preview.locator("script")).to_have_count(0)
        shot(page, "skills", "03-preview")
        page.get_by_role("button", name="Save skill").click()
        expect(page.get_by_role("status")).to_have_text("Skill “careful-review” saved as version 1.")
        expect(page.locator("#skill-body strong")).to_have_text("whole")
        assert page.evaluate("window.__owned") is None  # neither the script nor the handler ran

        page.get_by_role("link", name="Edit").click()
        page.get_by_label("SKILL.md").fill(GOOD.replace("2. Run the verify command.", "2. Run the whole suite."))
        page.get_by_role("button", name="Save new version").click()
        expect(page.get_by_role("status")).to_have_text("Skill “careful-review” saved as version 2.")
        expect(page.locator("#skill-body")).to_contain_text("Run the whole suite.")
        page.locator("#skill-versions").get_by_role("link", name="v1").click()
        expect(page.locator("#skill-body")).to_contain_text("Run the verify command.")
        expect(page.locator("main h1").first).to_contain_text("an earlier version; the current is v2")
        shot(page, "skills", "04-earlier-version", full_page=True)

        page.locator("#nav-skills").click()
        with page.expect_download() as download:
            page.locator("#export-all").click()
        exported = tmp_path / "skills.zip"
        download.value.save_as(exported)
        names = zipfile.ZipFile(exported).namelist()
        assert "careful-review/SKILL.md" in names and ".swarm-history/careful-review/1/SKILL.md" in names

        page.locator("#skills").get_by_role("link", name="careful-review").click()
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Delete").click()
        expect(page.get_by_role("status")).to_have_text("Skill “careful-review” deleted.")
        expect(page.locator("#skills")).not_to_contain_text("careful-review")

        page.locator("#import-archive").set_input_files(exported)
        page.get_by_role("button", name="Import zip").click()
        expect(page.get_by_role("status")).to_have_text("Imported careful-review.")
        expect(page.locator("#skill-" + "import")).to_be_visible()
        page.locator("#skills").get_by_role("link", name="careful-review").click()
        expect(page.locator("#skill-versions li")).to_have_count(2)

        folder = tmp_path / "lint-first"
        (folder / "scripts").mkdir(parents=True)
        (folder / "SKILL.md").write_text(
            "---\nname: lint-first\ndescription: Lint before tests. Use on Python repositories.\n---\n\nRun the linter.\n"
        )
        (folder / "scripts" / "lint.sh").write_text("#!/bin/sh\nruff check .\n")
        page.locator("#nav-skills").click()
        page.locator("#import-folder").set_input_files(folder)
        page.get_by_role("button", name="Import folder").click()
        expect(page.get_by_role("status")).to_have_text("Imported lint-first.")
        shot(page, "skills", "05-imported", full_page=True)
        page.locator("#skills").get_by_role("link", name="lint-first").click()
        expect(page.locator("#skill-files")).to_contain_text("scripts/lint.sh")
        shot(page, "skills", "06-detail", full_page=True)


def test_a_person_edits_a_taste_guide_and_reads_the_diff_between_its_versions(browser, live_app):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    app = live_app()
    with session(browser, app, "taste") as (context, watch):
        page = context.new_page()
        log_in(page, app.admin_password)
        page.get_by_role("link", name="Taste", exact=True).click()
        page.locator("#taste-1").get_by_role("link", name="Edit").click()
        rules = page.get_by_label("Rules")
        rules.fill(rules.input_value().replace("Keep diffs small.", "Keep diffs under 50 lines.\nName tests well."))
        page.get_by_role("button", name="Save taste guide").click()
        page.locator("#taste-1").get_by_role("link", name="Versions").click()
        v2 = page.locator("#taste-version-2")
        expect(v2.locator("li.removed")).to_have_text("− Keep diffs small.")
        expect(v2.locator("li.added")).to_have_text(["+ Keep diffs under 50 lines.", "+ Name tests well."])
        expect(page.locator("#taste-version-1 li.added")).to_have_count(4)
        shot(page, "taste", "01-versions", full_page=True)
