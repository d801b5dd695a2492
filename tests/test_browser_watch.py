"""The watch every browser test runs under: a console error, an uncaught exception or a failed request on any
page fails the test; a clean page and a failure the test declared do not. Pages come from a tiny local site."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.browser import session
from tests.live_server import free_port

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CLOSED_PORT = free_port()  # nothing listens there
PAGES = {
    "/clean": "<h1>Fine</h1><img src='/pixel.svg'>",
    "/console": "<script>console.error('boom from the page')</script>",
    "/throws": "<script>throw new Error('uncaught on purpose')</script>",
    "/missing": "<img src='/nope.svg'>",
    "/unreachable": f"<img src='http://127.0.0.1:{CLOSED_PORT}/x.svg'>",
    "/refused": "<script>fetch('/bad', {method: 'POST'}).then(() => { window.done = true; })</script>",
}
PIXEL = b"<svg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/>"


class Site(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/pixel.svg":
            self._answer(200, PIXEL, "image/svg+xml")
        elif self.path in PAGES:
            self._answer(
                200,
                f"<!doctype html><title>t</title><link rel='icon' href='/pixel.svg'>{PAGES[self.path]}".encode(),
                "text/html",
            )
        else:
            self._answer(404, b"not here", "text/plain")

    def do_POST(self):
        self._answer(400, b'{"error": "refused on purpose"}', "application/json")

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # quiet
        pass


class StaticSite:
    """What `session` needs of an app: where it is and its logs."""

    def __init__(self, port: int):
        self.base_url = f"http://127.0.0.1:{port}"

    def logs(self) -> str:
        return "(a static test site: no logs)"


@pytest.fixture(scope="module")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield StaticSite(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def visiting(browser, site, *paths: str):
    """Visit each path in its own page of one watched session; yields the watch before the pages are opened."""
    with session(browser, site, "watch") as (context, watch):
        yield watch
        for path in paths:
            page = context.new_page()
            page.goto(path)
            if path == "/refused":
                page.wait_for_function("window.done === true")


def problems_seen(browser, site, *paths: str) -> str:
    with pytest.raises(AssertionError) as failed:
        with visiting(browser, site, *paths):
            pass
    return str(failed.value)


def test_clean_pages_pass(browser, site):
    with visiting(browser, site, "/clean", "/clean"):
        pass


def test_a_console_error_on_the_second_page_fails_the_test(browser, site):
    seen = problems_seen(browser, site, "/clean", "/console")
    assert "console error on" in seen and "boom from the page" in seen


def test_an_uncaught_exception_fails_the_test(browser, site):
    assert "uncaught on purpose" in problems_seen(browser, site, "/throws")


def test_a_missing_resource_fails_the_test(browser, site):
    seen = problems_seen(browser, site, "/missing")
    assert "404 for GET" in seen and "/nope.svg" in seen


def test_a_request_that_never_got_an_answer_fails_the_test(browser, site):
    seen = problems_seen(browser, site, "/unreachable")
    assert "request failed: GET" in seen and "ERR_CONNECTION_REFUSED" in seen


def test_an_error_answer_the_test_did_not_declare_fails_it(browser, site):
    seen = problems_seen(browser, site, "/refused")
    assert "400 for POST" in seen and "/bad" in seen


def test_an_error_answer_the_test_declared_passes(browser, site):
    with visiting(browser, site, "/refused") as watch:
        watch.expect(400, "/bad")
