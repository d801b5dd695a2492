"""The `swarm` command run as a CI job runs it (tests/test_cli.py), and the networks it meets: a proxy that does not
pass websockets, a socket that cannot be reached, HTTP_PROXY; and the live socket's refusals."""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import http.server
import json
import os
import re
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from swarm_cli import ws
from tests.live_server import BIN, ROOT
from tests.ws_client import Refused, WsClient

SWARM = BIN / "swarm"


def swarm_env(url: str, token: str) -> dict[str, str]:
    # PYTHONPATH: this checkout's swarm_cli, even where one venv serves several checkouts (its editable install points
    # at one of them); test_the_installed_command_runs_on_its_own runs it without
    return {"PATH": os.environ["PATH"], "SWARM_URL": url, "SWARM_TOKEN": token, "PYTHONPATH": str(ROOT)}


def run_swarm(
    app, token: str, *args: str, timeout: float = 300, cwd=None, url: str = ""
) -> subprocess.CompletedProcess:
    env = swarm_env(url or app.base_url, token)
    return subprocess.run([str(SWARM), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def popen(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    """Started, its output read as it comes: unbuffered (bytes), so `readline` takes no more than its line and
    `communicate` gets the rest."""
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)


def api(app, token: str, method: str, path: str, data: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{app.base_url}/api/{path}",
        data=json.dumps(data).encode() if data is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read())


class _Forward(http.server.BaseHTTPRequestHandler):
    """A proxy that does not pass websockets: every request goes on as plain HTTP, its Upgrade left behind."""

    target = ""  # the app's base URL; "" as a proxy (HTTP_PROXY), whose requests name the whole URL
    hang_up = False  # on a websocket's handshake: close the connection, as a firewall or a proxy would
    DROPPED = {"connection", "upgrade", "host", "keep-alive", "sec-websocket-key", "sec-websocket-version"}

    def do_GET(self) -> None:
        if self.hang_up and self.headers.get("Upgrade"):
            self.close_connection = True
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in self.DROPPED}
        request = urllib.request.Request(self.target + self.path, data=body, method=self.command, headers=headers)
        try:
            answer = urllib.request.urlopen(request, timeout=60)
        except urllib.error.HTTPError as exc:
            answer = exc
        data = answer.read()
        self.send_response(answer.getcode())
        self.send_header("Content-Type", answer.headers.get("Content-Type", "text/plain"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def forwarding(target: str, hang_up: bool = True) -> Iterator[str]:
    """A _Forward server for the test's while: its URL. `target` "" makes it a proxy (HTTP_PROXY)."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), type("F", (_Forward,), {"target": target, "hang_up": hang_up})
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def through_a_proxy_without_websockets(app, token: str, agent_id: int, live: str) -> None:
    """The socket refused (HTTP 404 from the app behind): the command says so and polls, to the same lines and end."""
    with forwarding(app.base_url, hang_up=False) as url:
        argv = ("follow", "agent", str(agent_id), "--timeout", "30", "--interval", "0.2")
        polled = run_swarm(app, token, *argv, url=url)
    assert polled.returncode == 0, polled.stdout + polled.stderr
    assert "would not open a live socket (HTTP 404); polling the API every 0.2 s instead" in polled.stderr

    def events(output: str) -> list[str]:
        return [line for line in output.splitlines() if line.startswith("[")]

    assert events(polled.stdout) == events(live) and "accepted" in polled.stdout.splitlines()[-1]


def when_the_socket_cannot_be_reached(app, token: str, agent_id: int, live: str) -> None:
    """A finished agent whose socket's connection is cut, every time (a firewall, a CI job behind a proxy), while the
    API answers: the API's outcome after the first failed connect, with every event. With HTTP_PROXY set (and no
    NO_PROXY for the host) it polls at once, through the proxy, as urllib does; NO_PROXY covering the host brings the
    socket back. (A running agent's follow falls back to polling: test_cli.py, while it awaits review.)"""
    argv = [str(SWARM), "follow", "agent", str(agent_id), "--timeout", "60", "--interval", "0.2"]
    with forwarding(app.base_url) as url, forwarding("") as proxy:
        cut = subprocess.run(argv, env=swarm_env(url, token), capture_output=True, text=True, timeout=120)
        env = {**swarm_env(app.base_url, token), "HTTP_PROXY": proxy}
        proxied = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        direct = subprocess.run(argv, env={**env, "NO_PROXY": "127.0.0.1"}, capture_output=True, text=True, timeout=120)

    def events(output: str) -> list[str]:
        return [line for line in output.splitlines() if line.startswith("[")]

    for polled in (cut, proxied, direct):
        assert polled.returncode == 0 and events(polled.stdout) == events(live), polled.stdout + polled.stderr
        assert polled.stdout.splitlines()[-1] == f"agent {agent_id} Ada: approved (accepted)"
    assert cut.stderr == "" and direct.stderr == ""
    assert proxied.stderr == (
        "swarm: HTTP_PROXY is set and the live socket does not go through proxies; polling the API every 0.2 s instead\n"
    )


def _session_cookie(app) -> str:
    """The admin's session cookie, from the login form as a browser submits it."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{app.base_url}/accounts/login/").read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {"username": "admin", "password": app.admin_password, "csrfmiddlewaretoken": csrf}
    opener.open(f"{app.base_url}/accounts/login/", urllib.parse.urlencode(form).encode())
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    assert "sessionid=" in cookie, "the login did not take"
    return cookie


def socket_refusals(app, token: str, agent_id: int) -> None:
    """Over daphne: the token opens the agent's socket; a wrong or revoked one does not, nor a browser's session from
    another site's page."""
    url = f"ws://127.0.0.1:{app.port}/ws/agents/{agent_id}/"
    opened = ws.Socket.connect(url, token)
    try:
        assert json.loads(opened.recv(15))["event"]["seq"] == 1  # control: the API's JSON, from the start
    finally:
        opened.close()
    made = api(app, token, "POST", "tokens", {"name": "short-lived", "scope": "read"})
    api(app, token, "DELETE", f"tokens/{made['id']}")
    for wrong in ("swm_not-a-token", made["token"]):
        with pytest.raises(ws.Refused) as refused:
            ws.Socket.connect(url, wrong).close()
        assert refused.value.status == 403

    cookie, path = _session_cookie(app), f"/ws/agents/{agent_id}/"
    with pytest.raises(Refused) as foreign:
        asyncio.run(WsClient.connect(app.port, path, cookie=cookie, origin="https://evil.example"))
    assert foreign.value.status == 403

    async def from_our_page() -> dict:
        client = await WsClient.connect(app.port, path, cookie=cookie)
        try:
            return await client.recv_json()
        finally:
            await client.close()

    assert "html" in asyncio.run(from_our_page())  # control: the same session from our own page
