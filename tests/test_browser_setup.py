"""A team admin sets Swarm up in real headless Chromium: adds a repository by its path on the server, adds a model
profile pointing at the local OpenAI-protocol server, tests its connection and sees the model's answer; a viewer then
reads both lists. Any console error, failed request or error status on any page fails the test (tests.browser.session),
except the one refusal the test provokes. Screenshots land in test-artifacts/."""

from __future__ import annotations

import pytest

from tests.browser import log_in, session, shot
from tests.factories import make_repo
from tests.openai_server import reply, status

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

KEY = "browser-test-key-0123456789"


def test_an_admin_adds_a_repository_and_a_model_profile_and_tests_the_connection(
    browser, live_app, server, tmp_path_factory
):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    roots = tmp_path_factory.mktemp("server-repos")
    make_repo(roots / "inventory", branch="trunk")
    port = server.base_url.rsplit(":", 1)[1].split("/")[0]
    app = live_app(
        SWARM_REPO_ROOTS=str(roots),
        SWARM_MODEL_HOSTS=f"127.0.0.1:{port}",
        SWARM_MODEL_KEY_ENVS="OPENAI_API_KEY,SWARM_TEST_KEY",
        SWARM_TEST_KEY=KEY,
    )
    with session(browser, app, "setup") as (context, watch):
        page = context.new_page()
        log_in(page, app.admin_password)

        # a repository, by its path on the server
        page.get_by_role("link", name="Repositories").click()
        expect(page.get_by_role("heading", name="Repositories")).to_be_visible()
        page.get_by_role("link", name="Add a repository").click()
        expect(page.get_by_text(str(roots))).to_be_visible()  # where repositories may be
        page.get_by_label("Name").fill("inventory")
        page.get_by_label("Path", exact=True).fill(str(roots / "elsewhere"))
        watch.expect(400, "/repos/new/")  # the refusal itself answers 400 (and the browser logs it)
        page.get_by_role("button", name="Add repository").click()
        expect(page.locator("#id_path-error")).to_have_text("Path is not a directory on the server.")
        shot(page, "setup", "01-repository-refused-in-place")
        page.get_by_label("Path", exact=True).fill(str(roots / "inventory"))
        page.get_by_label("Verify command").fill("python -m pytest -q")
        page.get_by_role("button", name="Add repository").click()
        expect(page.get_by_role("status")).to_have_text("Repository “inventory” added.")
        row = page.locator("#repos tr", has_text="inventory")
        expect(row).to_contain_text("trunk")  # the default branch, read from the repository
        expect(row).to_contain_text("python -m pytest -q")
        shot(page, "setup", "02-repositories")

        # a model profile on the local OpenAI-protocol server, tested before it is saved
        page.get_by_role("link", name="Models").click()
        page.get_by_role("link", name="Add a model profile").click()
        expect(page.get_by_role("heading", name="Add a model profile")).to_be_visible()
        keys = page.get_by_label("Key variable").locator("option").all_inner_texts()
        assert keys == ["none (a server that takes no key)", "OPENAI_API_KEY", "SWARM_TEST_KEY"]
        page.get_by_label("Name", exact=True).fill("local-model")
        page.get_by_label("Model", exact=True).fill("openai/test-model")
        page.get_by_label("API base URL").fill(server.base_url)
        page.get_by_label("Key variable").select_option("SWARM_TEST_KEY")
        page.get_by_label("Context window").fill("32000")
        page.get_by_label("Input price").fill("0.5")
        page.get_by_label("Output price").fill("1.5")
        server.script(reply("Hello from the local model."))
        page.get_by_role("button", name="Test connection").click()
        expect(page.locator("#connection-answer")).to_have_text("Hello from the local model.")
        expect(page.locator("#connection-result h2")).to_have_text("Connection works")
        assert page.url.endswith("/models/new/")  # swapped in place: the form is still being filled
        (call,) = server.requests  # one call: the button's request, not also a submit of the form
        assert call.headers["authorization"] == f"Bearer {KEY}"
        shot(page, "setup", "03-model-profile-tested", full_page=True)

        page.get_by_role("button", name="Add profile").click()
        expect(page.get_by_role("status")).to_have_text("Model profile “local-model” added.")
        row = page.locator("#profiles tr", has_text="local-model")
        expect(row.locator('td[data-label="Key variable"]')).to_have_text("SWARM_TEST_KEY")
        expect(row.locator('td[data-label="Family"]')).to_have_text("openai")  # left empty: the provider's name
        expect(row.locator('td[data-label="Context window"]')).to_have_text("32000")
        expect(row.locator('td[data-label="Price in / out"]')).to_have_text("0.5 / 1.5")
        shot(page, "setup", "04-model-profiles")
        assert KEY not in page.content()

        # a provider's refusal is shown as it came, the key masked
        page.get_by_role("link", name="local-model").click()
        expect(page.get_by_role("heading", name="Edit local-model")).to_be_visible()
        server.script(status(401, f"Incorrect API key provided: {KEY}. You can find your key in your account."))
        page.get_by_role("button", name="Test connection").click()
        expect(page.locator("#connection-result h2")).to_have_text("Connection failed")
        expect(page.locator("#connection-error")).to_contain_text("Incorrect API key provided: [redacted].")
        assert KEY not in page.content()
        shot(page, "setup", "05-connection-failed", full_page=True)
        page.get_by_role("link", name="Model profiles").click()
        expect(page.get_by_role("heading", name="Model profiles")).to_be_visible()

        # the same pages on a phone
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        shot(page, "setup", "06-model-profiles-390x844", full_page=True)
        page.get_by_role("link", name="local-model").click()
        expect(page.get_by_label("Name", exact=True)).to_be_disabled()
        shot(page, "setup", "07-model-profile-edit-390x844", full_page=True)

    # a viewer of the team reads both lists, and is offered no way to change them
    app.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; from agents.models import Membership, Team; "
        "Membership.objects.create(team=Team.objects.get(), role='viewer', "
        "user=User.objects.create_user('victor', password='pw-for-tests-123'))",
    )
    with session(browser, app, "setup-viewer") as (context, _):
        page = context.new_page()
        log_in(page, "pw-for-tests-123", username="victor")
        page.get_by_role("link", name="Repositories").click()
        expect(page.locator("#repos tr", has_text="inventory")).to_contain_text("trunk")
        expect(page.get_by_text("Only the team's admins add or change them.")).to_be_visible()
        assert page.get_by_role("link", name="Add a repository").count() == 0
        shot(page, "setup", "08-repositories-as-viewer")
        page.get_by_role("link", name="Models").click()
        expect(page.locator("#profiles tr", has_text="local-model")).to_contain_text("SWARM_TEST_KEY")
        assert page.get_by_role("button", name="Delete").count() == 0
        shot(page, "setup", "09-model-profiles-as-viewer")

    assert "Traceback" not in app.log("daphne")
