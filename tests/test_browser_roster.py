"""A team sets up a swarm in real headless Chromium, from the browser alone: its repository added by clone URL (a real
`git daemon`, cloned in the background), a model profile on the local OpenAI-protocol server (its connection tested),
a roster of 20 agents generated from two profiles and previewed, the launch, and the charts of the task page and of
the dashboard drawing themselves as the agents work, then going quiet once they are stopped. Any console error, failed request or error status on any page fails the test (tests.browser.session).
Screenshots land in test-artifacts/roster-*.png."""

from __future__ import annotations

import re

import pytest

from agents.demo import DEMO_FILES
from tests.browser import log_in, session, shot
from tests.git_servers import GitDaemon, bare_repo
from tests.live_server import ARTIFACTS
from tests.openai_server import reply

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

KEY = "browser-roster-key-0123456789"
CHARTS = ["agents-by-status", "tokens-per-model", "cost-per-model", "steps-per-minute", "verdict-outcomes"]
DRAW_WAIT_MS = 150_000
PATHS = ["README.md", "mathutil.py", "textutil.py", "tests/test_mathutil.py", "tests/test_textutil.py"]


def _calls(n: int) -> list[tuple[str, dict]]:
    """Reads of the repository's files, each by a path spelled differently (./x, ././x, ...)."""
    return [("read_file", {"path": "./" * (1 + i // len(PATHS)) + PATHS[i % len(PATHS)]}) for i in range(n)]


@pytest.fixture
def stats_server(tmp_path):
    """The team's repository on a git server: a real `git daemon` on loopback serving the demo's files as "stats"."""
    bare_repo(tmp_path, "stats", files=DEMO_FILES)
    with GitDaemon(tmp_path) as daemon:
        yield daemon


def test_a_team_generates_a_roster_of_20_launches_it_and_watches_the_charts_draw(
    browser, live_app, server, stats_server
):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    port = server.base_url.rsplit(":", 1)[1].split("/")[0]
    app = live_app(
        step_delay=1.0,
        SWARM_MODEL_HOSTS=f"127.0.0.1:{port}",
        SWARM_MODEL_KEY_ENVS="SWARM_TEST_KEY",
        SWARM_TEST_KEY=KEY,
        SWARM_GIT_HOSTS="127.0.0.1:*",
    )
    with session(browser, app, "roster") as (context, _):
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())  # "Stop every agent of this task?"
        log_in(page, app.admin_password)
        _add_a_model_profile_and_test_it(page, server)

        repo = _add_a_repository_by_clone_url(page, stats_server)

        task_url = _write_a_task_with_a_generated_roster(page, repo)
        # the local-model agents read around for as long as the test runs (each call a new path, so none is taken
        # for a loop); the simulated ones fix, verify and submit
        # (enough for 16 agents for several minutes: an unwatched agent's plain replies go fast, and an empty script
        # answers 400, which would put an agent in error)
        server.script(*[reply("Reading around.", call, usage=(900, 150)) for call in _calls(3000)])
        page.locator("#launch").click()
        expect(page.locator(".flash")).to_have_text("Launched 20 agents.")
        expect(page.locator("article.card")).to_have_count(20)
        _see_the_charts_draw_and_refresh_alone(page)
        shot(page, "roster", "04-task-charts", full_page=True)

        page.get_by_role("link", name="Dashboard").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Dashboard")
        charts = page.locator("#charts")
        for slug in CHARTS:
            expect(charts.locator(f'[data-chart="{slug}"] .series').first).to_be_visible()
        shot(page, "roster", "05-dashboard", full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        expect(page.locator('#charts [data-chart="tokens-per-model"] .series').first).to_be_visible()
        shot(page, "roster", "06-dashboard-390x844", full_page=True)
        page.set_viewport_size({"width": 1280, "height": 800})

        # stopped, nothing can change: the charts stop asking
        page.goto(task_url)
        page.get_by_role("button", name="Stop all").click()
        expect(page.locator(".flash")).to_contain_text("Stopped")
        expect(page.locator("#charts-poll")).to_have_count(0)
        expect(page.locator("#charts")).to_have_attribute("data-live", "0")

    calls = [r for r in server.requests if r.body.get("model") == "test-model"]
    assert calls and all(r.headers["authorization"] == f"Bearer {KEY}" for r in calls)
    assert "Traceback" not in app.log("daphne")


def _add_a_model_profile_and_test_it(page, server) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="Models").click()
    page.get_by_role("link", name="Add a model profile").click()
    page.get_by_label("Name", exact=True).fill("local-model")
    page.get_by_label("Model", exact=True).fill("openai/test-model")
    page.get_by_label("API base URL").fill(server.base_url)
    page.get_by_label("Key variable").select_option("SWARM_TEST_KEY")
    page.get_by_label("Input price").fill("0.5")
    page.get_by_label("Output price").fill("1.5")
    server.script(reply("Hello from the local model."))
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-answer")).to_have_text("Hello from the local model.")
    page.get_by_role("button", name="Add profile").click()
    expect(page.get_by_role("status")).to_have_text("Model profile “local-model” added.")


def _add_a_repository_by_clone_url(page, daemon: GitDaemon) -> str:
    """The admin adds the repository by its clone URL; the clone runs in the background and its row goes ready."""
    from playwright.sync_api import expect

    page.get_by_role("link", name="Repositories").click()
    page.get_by_role("link", name="Add a repository").click()
    page.locator("#id_name").fill("stats")
    page.get_by_label("Remote repository").check()
    page.locator("#id_url").fill(daemon.url("stats"))
    page.locator("#id_verify_command").fill("python -m pytest -q")
    page.locator("#repo-submit").click()
    ready = page.locator('[data-repo-name="stats"][data-repo-status="ready"]')
    expect(ready).to_be_visible(timeout=60_000)
    expect(page.get_by_role("row", name=re.compile("^stats"))).to_contain_text("trunk")  # the remote's default branch
    shot(page, "roster", "00-repository-cloned")
    return "stats"


def _write_a_task_with_a_generated_roster(page, repo: str) -> str:
    from playwright.sync_api import expect

    page.get_by_role("link", name="New task").click()
    page.get_by_label("Title").fill("Twenty agents on mean()")
    page.get_by_label("Repo").select_option(label=repo)
    page.get_by_label("Goal").fill("mean([2, 4, 6]) must be 4.")
    page.get_by_label("Acceptance criteria").fill("The whole test suite passes")
    page.get_by_label("Verify command").fill("python -m pytest -q")
    expect(page.locator("#roster-preview")).to_contain_text("No agents yet.")

    # two rows: 16 agents on the local model, 4 simulated; names from the default list, its first one edited
    page.get_by_label("How many, row 1").fill("16")
    page.get_by_label("Profile, row 1").select_option("local-model")
    page.get_by_label("How many, row 2").fill("4")
    page.get_by_label("Profile, row 2").select_option("sim-diligent")
    names = page.get_by_label("Names to draw from")
    names.fill(names.input_value().replace("Ada\n", "Augusta\n", 1))
    page.get_by_role("button", name="Fill the roster").click()
    preview = page.locator("#roster-preview")
    expect(preview.locator(".roster-total")).to_have_text("20 agents of 2 profiles")
    expect(preview.locator("dt")).to_have_text(["16 × local-model", "4 × sim-diligent"])
    expect(preview.locator("dd").first).to_contain_text("Augusta, Grace, Linus, Ken")
    expect(preview).to_contain_text("Ready to save.")
    lines = page.get_by_label("Agents").input_value().splitlines()
    assert len(lines) == 20 and lines[0] == "Augusta = local-model" and lines[19].endswith(" = sim-diligent")
    assert page.url.endswith("/tasks/new/")  # swapped in place: nothing saved yet
    page.locator("#roster").scroll_into_view_if_needed()
    shot(page, "roster", "01-generated-roster")
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#roster").screenshot(path=str(ARTIFACTS / "roster-01-generated-roster-390x844.png"), caret="initial")
    page.set_viewport_size({"width": 1280, "height": 800})

    # the preview follows the lines as they are typed, with the form's own complaints
    page.get_by_label("Agents").press("Control+End")
    page.get_by_label("Agents").press_sequentially("\nGrace = local-model")
    expect(preview.locator(".roster-errors")).to_contain_text("“Grace” appears twice")
    expect(preview.locator(".roster-total")).to_have_text("21 agents of 2 profiles")
    page.locator("#roster").scroll_into_view_if_needed()
    shot(page, "roster", "02-roster-preview-complains")
    page.get_by_label("Agents").fill("\n".join(lines))
    expect(preview.locator(".roster-total")).to_have_text("20 agents of 2 profiles")

    page.get_by_role("button", name="Save task").click()
    expect(page.locator(".flash")).to_contain_text("saved")
    expect(page.locator("#launch")).to_have_text("Launch 20 agents")
    expect(page.locator(".spec")).to_contain_text("Augusta (local-model)")
    shot(page, "roster", "03-task-saved")
    return page.url


def _see_the_charts_draw_and_refresh_alone(page) -> None:
    """Every chart draws, from the task page's own poll: the charts are swapped in alone, the page stays."""
    from playwright.sync_api import expect

    page.evaluate("() => { document.getElementById('swarm').dataset.kept = '1'; }")
    charts = page.locator("#charts")
    expect(charts).to_have_attribute("data-live", "1")
    lines = charts.locator('[data-chart="tokens-per-model"] polyline.series')
    expect(lines).to_have_count(2, timeout=DRAW_WAIT_MS)  # both models spent tokens
    expect(charts.locator('[data-chart="tokens-per-model"] .legend li')).to_have_text(["local-model", "sim-diligent"])
    for slug in CHARTS:
        expect(charts.locator(f'[data-chart="{slug}"] .series').first).to_be_visible(timeout=DRAW_WAIT_MS)
    status = charts.locator('[data-chart="agents-by-status"] svg')
    assert re.match(r"Agents by status: .*running \d+", status.get_attribute("aria-label"))
    assert page.evaluate("() => document.getElementById('swarm').dataset.kept") == "1"  # no reload, no re-render
