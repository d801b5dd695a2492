"""What any client can send, against the real app under daphne: bodies over the limit are refused before they are
read, and no path under /static/ (or elsewhere) answers 500."""

from __future__ import annotations

import json
import select
import socket
import time
import urllib.error
import urllib.request

import pytest
from asgiref.sync import async_to_sync

from swarm_web.middleware import BodyLimit
from tests.live_server import LiveApp

pytestmark = pytest.mark.own_sqlite  # the app under daphne, on its own SQLite; BodyLimit driven in this process

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def limits_app(tmp_path_factory):
    app = LiveApp("embedded", tmp_path_factory.mktemp("swarm-limits-"), extra_env={"SWARM_MAX_BODY_BYTES": str(LIMIT)})
    try:
        yield app.start()
    finally:
        app.stop()


def connect(limits_app) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", limits_app.port), timeout=10)
    return sock


def read_answer(sock: socket.socket, timeout: float = 5) -> bytes:
    """Everything the server sends until it closes (or `timeout` passes)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def head(path: str, extra: str = "") -> bytes:
    return f"{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}\r\n".encode()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def get(limits_app, path: str) -> int:
    try:
        with urllib.request.urlopen(limits_app.base_url + path, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_huge_declared_body_is_refused_at_once_without_a_login(limits_app):
    sock = connect(limits_app)
    started = time.monotonic()
    sock.sendall(head("POST /api/tasks", "Content-Length: 10000000000\r\n"))  # 10 GB announced, nothing sent
    answer = read_answer(sock, timeout=20)
    assert status_of(answer) == 413, answer[:200]
    # at once: a server that waited for the 10 GB would never answer (room for a loaded machine)
    assert time.monotonic() - started < 10
    assert f"larger than the {LIMIT:,} bytes".encode() in answer
    sock.close()


def test_a_body_under_the_limit_is_waited_for_as_usual(limits_app):
    """Control for the test above: the 413 comes from the limit, not from an early answer to every request."""
    sock = connect(limits_app)
    # Connection: close, so that the answer ends when the server closes (not when read_answer gives up on keep-alive)
    sock.sendall(head("POST /api/tasks", f"Content-Length: {LIMIT}\r\nConnection: close\r\n"))
    assert select.select([sock], [], [], 1.5)[0] == []  # the server waits for the body
    sock.sendall(b"{" + b" " * (LIMIT - 2) + b"}")
    answer = read_answer(sock, timeout=10)
    assert status_of(answer) == 401, answer[:200]  # read and checked: no token
    sock.close()


def test_a_chunked_body_is_refused_as_it_grows_past_the_limit(limits_app):
    sock = connect(limits_app)
    sock.sendall(head("POST /accounts/login/", "Transfer-Encoding: chunked\r\n"))
    chunk = b"x" * 16384
    sent, answer = 0, b""
    deadline = time.monotonic() + 20
    while sent < 100 * LIMIT and time.monotonic() < deadline:
        readable, writable, _ = select.select([sock], [sock], [], 1)
        if readable:
            answer = read_answer(sock)
            break
        if writable:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                answer = read_answer(sock)
                break
            sent += len(chunk)
    assert status_of(answer) == 413, answer[:200]
    # the answer came while the client was still sending, long before its 6.4 MB were through
    assert sent < 100 * LIMIT
    sock.close()


def test_the_server_still_serves_after_refusing_bodies(limits_app):
    for _ in range(3):
        sock = connect(limits_app)
        sock.sendall(head("POST /api/tasks", "Content-Length: 999999999999\r\n"))
        assert status_of(read_answer(sock)) == 413
        sock.close()
    assert get(limits_app, "/accounts/login/") == 200
    assert "Traceback" not in limits_app.log("daphne")


PATHS = [
    "/static/../../etc/passwd",
    "/static/%2e%2e/%2e%2e/etc/passwd",
    "/static/..%2f..%2fswarm_web/settings.py",
    "/static/css/..%2f..%2f..%2fmanage.py",
    "/static/%00",
    "/static/css/%00x",
    "/static/nonexistent",
    "/static",
    "/static/",
    "/staticx",
    "/static/%ff",
    "/%00",
    "/static/..%5c..%5cmanage.py",
]


def test_no_path_under_static_or_beside_it_answers_500(limits_app):
    answers = {}
    for path in PATHS:
        sock = connect(limits_app)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        answers[path] = status_of(read_answer(sock))
        sock.close()
    assert answers == dict.fromkeys(PATHS, 404)
    assert get(limits_app, "/static/css/swarm.css") == 200  # control: a real static file is served
    assert "Traceback" not in limits_app.log("daphne")


# ---------------------------------------------------------------- the ASGI layer, for servers other than daphne


def run_asgi(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[list[dict], list[int]]:
    """Drive BodyLimit in front of an app that reads its whole body; returns what was sent and what the app read."""
    read = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            read.append(len(message["body"]))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/tasks", "headers": headers}
    async_to_sync(BodyLimit(app))(scope, receive, send)
    return sent, read


def test_the_asgi_limit_refuses_a_declared_length_without_reading(settings):
    settings.SWARM_MAX_BODY_BYTES = 1000
    sent, read = run_asgi([(b"content-length", b"5000")], [b"x" * 5000])
    assert sent[0]["status"] == 413 and json.loads(sent[1]["body"])["error"].startswith("The body is larger")
    assert read == []


def test_the_asgi_limit_stops_an_undeclared_body_as_it_grows(settings):
    settings.SWARM_MAX_BODY_BYTES = 1000
    sent, read = run_asgi([], [b"x" * 400] * 10)
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]
    assert sum(read) <= 1000
    # control: a body under the limit reaches the app whole
    settings.SWARM_MAX_BODY_BYTES = 10_000
    sent, read = run_asgi([], [b"x" * 400] * 10)
    assert sent[0]["status"] == 200 and sum(read) == 4000
