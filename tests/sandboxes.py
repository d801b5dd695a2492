"""What the sandbox tests share: agents' worktrees of a fresh demo repository (the `trees` fixture, registered by
tests/conftest.py), the positive control run on the host, and a look for processes that should be gone."""

from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest
from django.conf import settings

from agents import demo, worktrees

# `python -c FORKER <children> <seconds each holds> <report file, or ->`: forks as many children as it can, up to
# the number asked, writes how many it made, and holds them (the marker names its processes for psutil)
FORKER = """import os, sys, time
# {marker}
wanted, hold, report = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
made = 0
for _ in range(wanted):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(hold)
        os._exit(0)
    made += 1
if report != "-":
    open(report, "w").write(str(made))
print("forked", made)
time.sleep(hold)
"""


def demo_worktrees(prefix: str, *names: str) -> SimpleNamespace:
    """A fresh demo repository in the data dir and one agent's worktree per name, all in one task.

    `.repo` is the repository, `.base` the commit the worktrees start from, and for each name (lower-cased)
    `.<name>` is its worktree and `.<name>_branch` its branch."""
    repo = Path(settings.DATA_DIR) / "repos" / f"{prefix}-{secrets.token_hex(4)}"
    demo.create_demo_repo(repo)
    task_id = 900_000 + secrets.randbelow(99_999)
    spec = SimpleNamespace(path=str(repo), default_branch="main")
    found = SimpleNamespace(repo=repo)
    for name in names:
        branch, path, found.base = worktrees.create(spec, task_id, name)
        setattr(found, name.lower(), path)
        setattr(found, f"{name.lower()}_branch", branch)
    return found


@pytest.fixture(scope="module")
def trees():
    """A demo repository in the data dir with two agents' worktrees: Ada's (sandboxed) and Grace's (the target)."""
    return demo_worktrees("sandbox", "Ada", "Grace")


def host(command: str, cwd: Path | str = "/", **kwargs) -> subprocess.CompletedProcess:
    """The positive control: the same command, run by the worker outside the sandbox."""
    return subprocess.run(["/bin/sh", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=30, **kwargs)


def processes_with(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if marker in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def gone_within(marker: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while processes_with(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
