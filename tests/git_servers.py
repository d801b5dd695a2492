"""Real git servers on loopback for the clone tests: `git daemon` (git://) and git's smart HTTP (`git http-backend`
behind a tiny HTTP server that asks for a token), each serving the bare repositories under one directory."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from tests.live_server import kill_group
from tests.waiting import wait_until

GIT_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bare_repo(base: Path, name: str, branch: str = "trunk", files: dict[str, str] | None = None) -> Path:
    """A bare repository `<base>/<name>.git` whose HEAD is `branch`, with one commit of `files`."""
    work = base / f"{name}-work"
    work.mkdir(parents=True)
    for rel, text in (files or {"README.md": f"{name}\n"}).items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    env = {**GIT_ENV, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    for args in (["init", "-q", "-b", branch], ["add", "-A"], ["commit", "-q", "-m", "first"]):
        subprocess.run(["git", "-C", str(work), *args], check=True, env=env)
    bare = base / f"{name}.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True, env=env)
    return bare


class GitDaemon:
    """`git daemon --export-all --base-path=<base>` on a free loopback port; `url(name)` is git://127.0.0.1:<port>/…"""

    def __init__(self, base: Path):
        self.base, self.port = base, free_port()

    def __enter__(self) -> GitDaemon:
        argv = ["git", "daemon", "--export-all", "--reuseaddr", "--informative-errors", f"--base-path={self.base}"]
        argv += ["--listen=127.0.0.1", f"--port={self.port}", str(self.base)]
        # a session of its own: `git daemon` runs git-daemon as a child, which outlived a kill of the parent alone
        self.proc = subprocess.Popen(
            argv, env=GIT_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_until(self._listening, "git daemon listening", timeout=10)
        return self

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}.git"

    def __exit__(self, *exc) -> None:
        kill_group(self.proc)


class SmartHttp:
    """git's smart HTTP for the repositories under `base`, answering 401 unless the request carries `user:token` as
    Basic auth. `seen` holds the Authorization headers it got (a test checks the token arrived, and how)."""

    def __init__(self, base: Path, user: str, token: str):
        self.base, self.expected = base, "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
        self.seen: list[str] = []

    def __enter__(self) -> SmartHttp:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._serve()

            def do_POST(self):
                self._serve()

            def _serve(self):
                outer.seen.append(self.headers.get("Authorization", ""))
                if self.headers.get("Authorization") != outer.expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                env = {**GIT_ENV, "GIT_PROJECT_ROOT": str(outer.base), "GIT_HTTP_EXPORT_ALL": "1"}
                env.update(REQUEST_METHOD=self.command, PATH_INFO=parts.path, QUERY_STRING=parts.query)
                env.update(CONTENT_TYPE=self.headers.get("Content-Type", ""), CONTENT_LENGTH=str(len(body)))
                env["GIT_PROTOCOL"] = self.headers.get("Git-Protocol", "")
                out = subprocess.run(["git", "http-backend"], input=body, capture_output=True, env=env).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
                status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
                self.send_response(status)
                for key, value in headers:
                    if key.lower() != "status":
                        self.send_header(key, value.strip())
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.git"

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
