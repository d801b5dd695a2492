"""What the fleet benchmark measures on processes (CPU seconds, peak RSS of a process and its children) and the bare
plumbing figures of ../shared/PERFORMANCE.md, re-measured in the same run: a bare litellm `acompletion` call's CPU
against the same local model server, the idle RSS of a bare daphne and of a bare Celery worker.

    python -m benchmarks.fleet_bare litellm BASE_URL CALLS   # one JSON line: CPU ms per call, plain and streamed
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
IDLE_SETTLE = 2.0  # seconds a freshly started process is left alone before its idle RSS is read


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss(pid: int) -> float:
    """MB resident over the process and its children (a prefork worker's pool included)."""
    total = 0
    for proc in _tree(pid):
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def tree_pss(pid: int) -> float:
    """MB proportional set size over the process and its children: a page shared by k of them counts 1/k in each, so
    a prefork pool's pages shared with its parent (copy-on-write) are counted once, which a sum of RSS counts in every
    process. For a pool forked after a big import (Swarm's worker when it preloads litellm) RSS overstates the
    memory the machine gives it; for processes sharing nothing the two agree."""
    total = 0
    for proc in _tree(pid):
        try:
            total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied, AttributeError):
            pass
    return total / 2**20


def tree_memory(pid: int) -> dict[str, float]:
    return {"rss": tree_rss(pid), "pss": tree_pss(pid)}


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of the process, its live children and the children it has reaped."""
    total = 0.0
    for index, proc in enumerate(_tree(pid)):
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
        if index == 0:
            total += times.children_user + times.children_system
    return total


class Sampler:
    """Peak RSS per named process tree, read every `interval` seconds in a thread until `stop()`."""

    def __init__(self, pids: dict[str, int], interval: float = 0.5):
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stopping.wait(interval):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], tree_rss(pid))

    def cpu(self) -> dict[str, float]:
        return {name: tree_cpu(pid) for name, pid in self.pids.items()}

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)


def _wait_port(proc: subprocess.Popen, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bare process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"bare process never listened on {port}")


def _bare_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"}}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)


def bare_daphne_memory(port: int) -> dict[str, float]:
    """Idle RSS and PSS (MB) of daphne serving a Channels app with no Swarm code."""
    argv = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "benchmarks.bare_asgi:application"]
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=_bare_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        _wait_port(proc, port)
        time.sleep(IDLE_SETTLE)
        return tree_memory(proc.pid)
    finally:
        _stop(proc)


def bare_celery_memory(redis_url: str, concurrency: int, log: Path) -> dict[str, float]:
    """Idle RSS and PSS (MB, the pool's processes included) of a Celery worker started as `make worker` starts
    Swarm's."""
    argv = [
        str(BIN / "celery"),
        "-A",
        "benchmarks.bare_celery",
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
    ]
    argv += ["--without-gossip", "--without-mingle", "--hostname", f"bare-{os.getpid()}@%h"]
    with open(log, "w") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=_bare_env(REDIS_URL=redis_url), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bare celery did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        time.sleep(IDLE_SETTLE)
        return tree_memory(proc.pid)
    finally:
        _stop(proc)


def bare_litellm(base_url: str, calls: int = 200) -> dict:
    """CPU ms per bare `litellm.acompletion` call (plain and streamed), in a fresh interpreter of its own."""
    argv = [str(BIN / "python"), "-m", "benchmarks.fleet_bare", "litellm", base_url, str(calls)]
    done = subprocess.run(argv, cwd=ROOT, env=_bare_env(), capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"bare litellm failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


async def _litellm_calls(base_url: str, calls: int) -> dict:
    import litellm

    litellm.suppress_debug_info = True
    messages = [{"role": "system", "content": "You are Bare, a benchmark."}, {"role": "user", "content": "Go on."}]
    tools = [{"type": "function", "function": {"name": "write_file", "parameters": {"type": "object"}}}]

    async def one(stream: bool) -> None:
        kwargs = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
        reply = await litellm.acompletion(
            model="openai/bench", api_base=base_url, api_key="none", messages=messages, tools=tools, **kwargs
        )
        if stream:
            litellm.stream_chunk_builder([chunk async for chunk in reply], messages=messages)

    result = {}
    for stream in (False, True):
        for _ in range(20):  # warm: the first calls build clients and caches
            await one(stream)
        started = time.process_time()
        for _ in range(calls):
            await one(stream)
        result["streamed_ms" if stream else "call_ms"] = round((time.process_time() - started) / calls * 1000, 2)
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["litellm"]:
        print(json.dumps(asyncio.run(_litellm_calls(sys.argv[2], int(sys.argv[3])))), flush=True)
