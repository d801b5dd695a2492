"""A redis-server of the test's own: restarted, flushed and stopped at will, never the machine's shared Redis.

It listens on loopback at a free port, keeps its files in a throwaway directory and, unless told otherwise, has no
persistence at all (`--save '' --appendonly no`): a restart loses everything, as RELIABILITY 3 wants.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tests.live_server import Unavailable, free_port


class RedisServer:
    def __init__(self, directory: Path, *args: str):
        self.directory = directory
        self.args = list(args)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15) -> RedisServer:
        """Start (again, on the same port) and wait until it answers PING."""
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            raise Unavailable("redis-server is not installed (apt-get install redis-server)")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        log = open(self.directory / f"redis-{self.starts}.log", "w")  # noqa: SIM115 (the server writes to it)
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [*argv, "--dir", str(self.directory), *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable(f"redis-server exited with {self.proc.returncode} on port {self.port}")
            if self.cli("PING") == "PONG":
                return self
            time.sleep(0.05)
        raise Unavailable(f"redis-server on port {self.port} did not answer within {timeout:.0f} s")

    def cli(self, *args: str) -> str:
        password = ["--no-auth-warning", "-a", self.password] if self.password else []
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), *password, *args], capture_output=True, text=True, timeout=10
        )
        return done.stdout.strip()

    @property
    def password(self) -> str:
        return self.args[self.args.index("--requirepass") + 1] if "--requirepass" in self.args else ""

    def shutdown_nosave(self) -> None:
        """What an operator's `redis-cli shutdown nosave` does: the server stops and keeps nothing."""
        self.cli("SHUTDOWN", "NOSAVE")
        if self.proc is not None:
            self.proc.wait(timeout=15)

    def flushall(self) -> None:
        assert self.cli("FLUSHALL") == "OK"

    def queued(self) -> int:
        """Celery messages waiting in Swarm's queues (steps, verify, housekeeping)."""
        return sum(int(self.cli("LLEN", name) or 0) for name in ("steps", "verify", "housekeeping"))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
