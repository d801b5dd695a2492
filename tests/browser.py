"""What every browser test shares: Chromium, the app started as a user starts it, logging in, screenshots, and
the watch that fails a test on any console error, uncaught exception or failed request on any page it opened.

tests/conftest.py registers the fixtures here (`browser`, `live_app`) as a plugin. A test opens its pages
through `session(...)`, never `browser.new_context()` (tests/test_architecture.py checks), so no page goes
unwatched. A request the test means to fail (a form sent empty on purpose) is declared with `watch.expect`.
"""

from __future__ import annotations

import re
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.live_server import ARTIFACTS, LiveApp, distributed_services, unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REDIS_DB = 5  # the distributed mode's broker database for the browser tests
VIEWPORT = {"width": 1280, "height": 800}

# Installed in every page before its own scripts: remembers each card status and message receipt the page
# ever showed, so a test can tell "changed live" from "was already so when the page loaded".
RECORDER = """
(() => {
  window.__cards = {};
  window.__receipts = {};
  const push = (log, id, value) => {
    const seen = (log[id] = log[id] || []);
    if (seen[seen.length - 1] !== value) seen.push(value);
  };
  const record = (node) => {
    if (!(node instanceof Element)) return;
    for (const el of [node, ...node.querySelectorAll("[id]")]) {
      if (/^agent-\\d+-card$/.test(el.id)) push(window.__cards, el.id, el.dataset.status);
      if (/^message-\\d+-receipt$/.test(el.id)) push(window.__receipts, el.id, el.textContent.trim());
    }
  };
  document.addEventListener("DOMContentLoaded", () => {
    record(document.body);
    new MutationObserver((mutations) => mutations.forEach((m) => m.addedNodes.forEach(record)))
      .observe(document.body, { childList: true, subtree: true });
  });
})();
"""

# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import Error, sync_playwright

    # module scope: Playwright's event loop must be gone before other modules use the ORM
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as exc:
            unavailable(f"Chromium at {CHROMIUM} does not start: {exc}")
        yield browser
        browser.close()


@pytest.fixture
def live_app(tmp_path_factory):
    """Starts the app as a user does: `live_app(mode="embedded", step_delay=1.0, **env)` returns a started LiveApp
    (the distributed mode with its Celery worker on a fresh Redis database and PostgreSQL database). Everything
    it started is stopped at the end of the test and the logs are kept in test-artifacts/logs."""
    with ExitStack() as stack:

        def start(mode: str = "embedded", step_delay: float = 1.0, **extra_env: str) -> LiveApp:
            env = stack.enter_context(distributed_services(REDIS_DB)) if mode == "distributed" else {}
            live = LiveApp(
                mode, tmp_path_factory.mktemp(f"swarm-{mode}-"), extra_env={**env, **extra_env}, step_delay=step_delay
            )
            stack.callback(live.save_logs, ARTIFACTS / "logs")
            stack.callback(live.stop)  # runs first: the logs are saved once the processes are gone
            return live.start()

        yield start


# ---------------------------------------------------------------- watching every page


@dataclass
class Watch:
    """What went wrong on the pages of one browser context: console errors, uncaught exceptions, requests that
    failed or were answered with an error status, less the ones the test declared it expects."""

    problems: list[str] = field(default_factory=list)
    expected: list[tuple[int, str]] = field(default_factory=list)
    tolerated: list[str] = field(default_factory=list)

    def expect(self, status: int, path: str) -> None:
        """The test means a request to `path` (the URL's path) to be answered with `status`."""
        self.expected.append((status, path))

    def tolerate(self, console_text: str) -> None:
        """The test means console errors (and failed requests) containing `console_text` to happen (e.g. it kills
        the server)."""
        self.tolerated.append(console_text)

    def _is_expected(self, status: int, url: str) -> bool:
        path = re.sub(r"^[a-z]+://[^/]+", "", url).split("?", 1)[0]
        return (status, path) in self.expected

    def attach(self, page) -> None:
        page.on("console", lambda message: self._console(page, message))
        page.on("pageerror", lambda exc: self.problems.append(f"uncaught exception on {page.url}: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def server_down(self) -> None:
        """The test stops the server on purpose: the page's sockets and polls (the nav counters) fail until it is
        back, and htmx logs each failed request."""
        for text in ("WebSocket connection to", "ERR_CONNECTION_REFUSED", "htmx:sendError", "htmx:afterRequest"):
            self.tolerate(text)

    def _console(self, page, message) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        # Chromium reports each error response in the console too; the response itself was judged already
        answered = re.match(r"Failed to load resource: the server responded with a status of (\d+)", message.text)
        if answered and self._is_expected(int(answered.group(1)), url):
            return
        if any(text in message.text for text in self.tolerated):
            return
        self.problems.append(f"console error on {page.url}: {message.text} ({url})")

    def _failed(self, request) -> None:
        failure = request.failure or ""
        # the browser cancelled it (the page went on to another one): nothing the app did wrong
        if "ERR_ABORTED" not in failure and not any(text in failure for text in self.tolerated):
            self.problems.append(f"request failed: {request.method} {request.url}: {failure}")

    def _response(self, response) -> None:
        if response.status >= 400 and not self._is_expected(response.status, response.url):
            self.problems.append(f"{response.status} for {response.request.method} {response.url}")

    def check(self, pages) -> None:
        for page in pages:
            if not page.is_closed():
                page.evaluate("0")  # a round trip: events the page sent before it have been delivered
        assert not self.problems, "the browser saw problems:\n" + "\n".join(self.problems)


@contextmanager
def session(browser, app, prefix: str, viewport: dict | None = None):
    """A browser context on the app, yielding (context, watch). Every page opened in it is watched: when the block
    ends, the test fails on any problem a page had. When the block fails, every open page is screenshotted to
    test-artifacts/<prefix>-FAILED-<n>.png and the app's logs are printed. Old <prefix>-*.png are removed first."""
    ARTIFACTS.mkdir(exist_ok=True)
    for stale in ARTIFACTS.glob(f"{prefix}-*.png"):
        stale.unlink()
    context = browser.new_context(viewport=viewport or VIEWPORT, base_url=app.base_url)
    context.add_init_script(RECORDER)
    watch = Watch()
    context.on("page", watch.attach)
    try:
        yield context, watch
        watch.check(context.pages)
    except BaseException:
        for n, page in enumerate(context.pages):
            try:
                page.screenshot(path=str(ARTIFACTS / f"{prefix}-FAILED-{n}.png"), full_page=True)
            except Exception:  # the page may be gone; the logs matter more
                pass
        print(app.logs())
        raise
    finally:
        context.close()


# ---------------------------------------------------------------- what a person does


def shot(page, prefix: str, name: str, **kwargs) -> None:
    # caret "initial": hiding the caret leaves style="" on every input, which htmx copies onto the inputs of a
    # fragment swapped in later (settling), and the page's CSP then logs an inline-style error
    kwargs.setdefault("caret", "initial")
    page.screenshot(path=str(ARTIFACTS / f"{prefix}-{name}.png"), **kwargs)


def log_in(page, password: str, username: str = "admin") -> None:
    from playwright.sync_api import expect

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Tasks")).to_be_visible()
    expect(page.get_by_role("button", name=f"Log out {username}")).to_be_visible()


def write_and_launch_task(page, title: str, agent_line: str) -> None:
    """Write a one-agent task on the demo repository through the form, then launch it."""
    page.goto("/tasks/new/")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Repo").select_option(label="mathutil")
    page.get_by_label("Goal").fill("mean([2, 4, 6]) must be 4.")
    page.get_by_label("Acceptance criteria").fill("The whole test suite passes")
    page.get_by_label("Verify command").fill("python -m pytest -q")
    page.get_by_label("Agents").fill(agent_line)
    page.get_by_role("button", name="Save task").click()
    page.get_by_role("button", name=re.compile("Launch 1 agents")).click()
