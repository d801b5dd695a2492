"""The sandbox's network and host services (RELIABILITY test 17): no listener on the host, TCP or Unix, no
PostgreSQL socket, no worker secrets, no new user namespace. Each denial has its positive control on the host."""

from __future__ import annotations

import os
import secrets
import socket
import sys
import threading
import time

import pytest
from django.conf import settings

from agents import sandbox
from tests.sandboxes import host

PG_SOCKET = "/var/run/postgresql/.s.PGSQL.5432"


class BannerServer:
    """Accepts connections (TCP on host loopback, or a Unix socket path) and answers each with a banner."""

    def __init__(self, unix_path: str | None = None) -> None:
        self.banner = f"banner-{secrets.token_hex(6)}"
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.bind("\0" + unix_path[1:] if unix_path.startswith("@") else unix_path)
            self.address = unix_path
        else:
            self.sock = socket.create_server(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.sendall(self.banner.encode())
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
        if self.address.startswith("/"):
            os.unlink(self.address)


CONNECT = """import socket, sys
addr = sys.argv[1]
if addr[0] in "/@":
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(3)
    s.connect(chr(0) + addr[1:] if addr[0] == "@" else addr)
else:
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=3)
print("connected", s.recv(100).decode())
"""


def connect_command(python: str, address: str) -> str:
    return f"{python} -c '{CONNECT}' {address}"


def test_tcp_to_a_listener_on_host_loopback_is_refused(trees):
    server = BannerServer()
    try:
        control = host(connect_command(sys.executable, server.address))
        assert f"connected {server.banner}" in control.stdout
        accepted = server.accepted
        result = sandbox.run(trees.ada, connect_command("python", server.address))
        assert result.exit_code != 0
        assert server.banner not in result.output
        time.sleep(0.2)
        assert server.accepted == accepted
    finally:
        server.close()


@pytest.mark.parametrize("where", ["data dir", "host /tmp", "abstract namespace"])
def test_unix_socket_listeners_on_the_host_are_unreachable(trees, where):
    name = f"sbx-{secrets.token_hex(4)}.sock"
    path = {"data dir": f"{settings.DATA_DIR}/{name}", "host /tmp": f"/tmp/{name}", "abstract namespace": f"@{name}"}
    server = BannerServer(path[where])
    try:
        control = host(connect_command(sys.executable, server.address))
        assert f"connected {server.banner}" in control.stdout
        result = sandbox.run(trees.ada, connect_command("python", server.address))
        assert result.exit_code != 0
        assert server.banner not in result.output
    finally:
        server.close()


@pytest.mark.skipif(not os.path.exists(PG_SOCKET), reason="no local PostgreSQL socket on this machine")
def test_the_postgresql_socket_is_unreachable(trees):
    probe = "import socket; s = socket.socket(socket.AF_UNIX); s.connect('" + PG_SOCKET + "'); print('connected')"
    control = host(f'{sys.executable} -c "{probe}"')
    assert control.stdout.strip() == "connected"
    result = sandbox.run(trees.ada, f'python -c "{probe}"')
    assert result.exit_code != 0
    assert "connected" not in result.output.splitlines()  # a printed line, not the traceback quoting the code


def test_the_workers_environment_secrets_are_not_visible_inside(trees, monkeypatch):
    secret = f"sk-canary-{secrets.token_hex(8)}"
    monkeypatch.setenv("SWARM_TEST_API_KEY", secret)
    assert secret in host("env").stdout
    result = sandbox.run(trees.ada, "env; cat /proc/*/environ")
    assert "PATH=" in result.output
    assert secret not in result.output
    assert "SWARM_TEST_API_KEY" not in result.output


def test_a_new_user_namespace_cannot_be_created_inside(trees):
    assert host("unshare -U true").returncode == 0
    result = sandbox.run(trees.ada, "unshare -U true")
    assert result.exit_code != 0
