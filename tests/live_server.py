"""Run Swarm the way a person runs it, as subprocesses, for the browser tests.

`manage.py migrate`, `manage.py seed_demo` (its printed admin password is the way in), then daphne with the real
settings module (swarm_web.settings, so the embedded scheduler really runs agents), and in the distributed
mode a separate Celery worker against real Redis and a fresh PostgreSQL database.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
ARTIFACTS = ROOT / "test-artifacts"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD_RE = re.compile(r"^\s*password:\s*(\S+)\s*$", re.MULTILINE)


class Unavailable(Exception):
    """A service the run mode needs (Redis, PostgreSQL, Chromium) is not there."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def unavailable(reason: str):
    """A missing service fails the run in CI (it must be there) and skips it on a developer's machine."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def logger(prefix: str) -> Callable[[str], None]:
    """A print of the time and the message under `prefix`, flushed at once: what a harness says as it goes."""

    def log(message: str) -> None:
        print(f"[{prefix} {time.strftime('%H:%M:%S')}] {message}", flush=True)

    return log


def worker_argv(hostname: str, pool: str | None = "threads", concurrency: int = 4) -> list[str]:
    """A Celery worker of the app as `make worker` runs it, named `<hostname>@%h`, without gossip or mingle (which
    only slow its start). `pool=None`: Celery's default, the prefork pool."""
    argv = [str(BIN / "celery"), "-A", "swarm_web", "worker", "--loglevel=INFO", f"--concurrency={concurrency}"]
    argv += [f"--pool={pool}"] if pool else []
    return [*argv, "--without-gossip", "--without-mingle", "--hostname", f"{hostname}@%h"]


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a process started in a session of its own, and everything it started (sandboxed commands too): a
    crash, with nothing closed cleanly."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def query_rows(database_url: str, sql: str, *params) -> list[tuple]:
    """Rows of one query on a PostgreSQL database the test's app processes write to."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def flush_redis_db(db: int) -> str:
    """Empty one Redis database number (broker queues of earlier runs) and return its URL."""
    import redis

    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.ping()
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        raise Unavailable(f"Redis at {REDIS_HOST}:{REDIS_PORT} is not reachable ({exc}); start redis-server") from exc
    return url


@contextmanager
def fresh_postgres_database(prefix: str = "swarm_browser"):
    """Create an empty PostgreSQL database, yield its URL, drop it afterwards (even if a process still holds it)."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        raise Unavailable(f"PostgreSQL at 127.0.0.1:5432 is not reachable ({exc}); start the cluster") from exc
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def distributed_services(redis_db: int, prefix: str = "swarm_browser"):
    """The environment of the distributed mode: an emptied Redis database and a fresh PostgreSQL one, both
    cleaned up afterwards. Without Redis or PostgreSQL the test is skipped (failed in CI)."""
    with ExitStack() as stack:
        try:
            redis_url = flush_redis_db(redis_db)
            database_url = stack.enter_context(fresh_postgres_database(prefix))
        except Unavailable as exc:
            unavailable(str(exc))
        stack.callback(flush_redis_db, redis_db)
        yield {"REDIS_URL": redis_url, "DATABASE_URL": database_url}


@dataclass
class LiveApp:
    """The app's processes for one run mode; `start()` brings them up, `stop()` always takes them down."""

    mode: str  # "embedded" or "distributed"
    data_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    step_delay: float = 1.0
    port: int = 0
    admin_password: str = ""
    seed_output: str = ""
    procs: list[tuple[str, subprocess.Popen, Path]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"REDIS_URL", "DATABASE_URL", "SWARM_SCHEDULER", "PYTEST_CURRENT_TEST"}
        }
        env.update(
            DJANGO_SETTINGS_MODULE="swarm_web.settings",  # the real app, never tests.settings
            SWARM_DATA_DIR=str(self.data_dir),
            SWARM_STEP_DELAY=str(self.step_delay),
            PYTHONUNBUFFERED="1",
            LOG_LEVEL="INFO",
        )
        env.update(self.extra_env)
        return env

    def python(self, *argv: str, timeout: float = 120) -> str:
        """Run the venv's python in the checkout with the app's environment; its output, or RuntimeError."""
        done = subprocess.run(
            [str(BIN / "python"), *argv],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def manage(self, *args: str, timeout: float = 120) -> str:
        return self.python("manage.py", *args, timeout=timeout)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start one of the app's processes, with `env` over the app's environment (a worker's own data dir)."""
        log_path = self.data_dir / f"{name}.log"
        log = open(log_path, "w")  # noqa: SIM115 (kept open for the process's lifetime)
        # own session: stop() can end the process and the sandboxed commands it started, and nothing else
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append((name, proc, log_path))
        return proc

    def start(self) -> LiveApp:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.manage("migrate", "--noinput")
        self.seed_output = self.manage("seed_demo")
        found = PASSWORD_RE.search(self.seed_output)
        if not found:
            raise RuntimeError(f"seed_demo printed no admin password:\n{self.seed_output}")
        self.admin_password = found.group(1)
        if self.mode == "distributed":
            self._spawn("celery", worker_argv(f"browser-{self.data_dir.name}"))
        self.start_web()
        if self.mode == "distributed":
            self.wait_for_log("celery", "ready.", timeout=60)
        return self

    def start_web(self) -> None:
        """daphne on a free port, as `make run` serves it; returns once it answers."""
        self.port = free_port()
        self._spawn(
            "daphne", [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(self.port), "swarm_web.asgi:application"]
        )
        self._wait_http(f"{self.base_url}/accounts/login/")

    def _check_alive(self) -> None:
        for name, proc, _ in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}\n{self.logs()}")

    def _wait_http(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{url} did not answer within {timeout:.0f} s\n{self.logs()}")

    def log(self, name: str) -> str:
        for proc_name, _, path in self.procs:
            if proc_name == name:
                return path.read_text(errors="replace")
        return ""

    def wait_for_log(self, name: str, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log(name):
                return
            self._check_alive()
            time.sleep(0.2)
        raise RuntimeError(f"{name} never logged {text!r} within {timeout:.0f} s\n{self.logs()}")

    def logs(self) -> str:
        parts = [f"----- seed_demo -----\n{self.seed_output}"]
        for name, _, path in self.procs:
            text = path.read_text(errors="replace") if path.exists() else "(no log)"
            parts.append(f"----- {name} ({self.mode}) -----\n{text[-20_000:]}")
        return "\n".join(parts)

    def save_logs(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name, _, path in self.procs:
            if path.exists():
                # named after the data dir too: apps of other tests (other xdist workers) save theirs beside it
                (directory / f"{self.mode}-{self.data_dir.name}-{name}.log").write_text(
                    path.read_text(errors="replace")
                )

    def stop(self) -> None:
        for _, proc, _ in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for _, proc, _ in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
