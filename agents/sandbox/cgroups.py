"""cgroups: one per command, removed when it ends (every process left in it killed first)."""

from __future__ import annotations

import itertools
import os
import signal
import time
from functools import lru_cache
from pathlib import Path

from agents.sandbox.profile import KILL_WAIT, MEMORY_MAX, PIDS_MAX


def _cgroup_parents_found() -> list[tuple[str, Path]]:
    """(kind, parent dir) where per-command cgroups can be made.

    cgroup v1 (pids, memory): a `swarm-sandbox` directory at the top of the hierarchy, shared by every worker
    process, so one that dies mid-command leaves its cgroup where the next one sweeps it up; nothing is made
    inside a cgroup that someone else (systemd, a container runtime) manages. cgroup v2: children of the
    worker's own cgroup, only when that was delegated to it (pids already enabled for its children).
    """
    try:
        membership = Path("/proc/self/cgroup").read_text().splitlines()
        mountinfo = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in mountinfo:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or fields[3] != "/":
            continue
        mountpoint, fstype, options = Path(fields[4]), tail[0], set(tail[2].split(","))
        if fstype == "cgroup":
            found += [(kind, mountpoint / "swarm-sandbox") for kind in ("pids", "memory") if kind in options]
        elif fstype == "cgroup2":
            own = next((mountpoint / p.split(":", 2)[2].lstrip("/") for p in membership if p.startswith("0::")), None)
            try:
                if own is not None and "pids" in (own / "cgroup.subtree_control").read_text().split():
                    found.append(("v2", own))
            except OSError:
                pass
    usable = []
    for kind, parent in found:
        if kind in {k for k, _ in usable}:
            continue
        try:
            parent.mkdir(exist_ok=True)
        except OSError:
            continue
        if os.access(parent, os.W_OK):
            usable.append((kind, parent))
    return usable


_counter = itertools.count(1)


class Cgroup:
    """The per-command cgroup(s): limits set before the command joins, every member killed at the end."""

    def __init__(self, dirs: list[Path], limited: set[str]) -> None:
        self.dirs = dirs
        self.limited = limited  # "pids", "memory": what the cgroups cap for this command

    @classmethod
    def create(cls) -> Cgroup:
        dirs, limited = [], set()
        name = f"run-{os.getpid()}-{next(_counter)}"
        for kind, parent in _cgroup_parents():
            path = parent / name
            limits = {
                "pids": {"pids.max": PIDS_MAX},
                "memory": {"memory.limit_in_bytes": MEMORY_MAX, "memory.memsw.limit_in_bytes": MEMORY_MAX},
                "v2": {"pids.max": PIDS_MAX, "memory.max": MEMORY_MAX, "memory.swap.max": 0},
            }[kind]
            applied = set()
            try:
                path.mkdir()
                for control, value in limits.items():  # in order: memsw may not go below the memory limit
                    if (path / control).exists():
                        (path / control).write_text(str(value))
                        applied.add(control.split(".")[0])
            except OSError:
                _remove(path)
                continue
            dirs.append(path)
            limited |= applied
        return cls(dirs, limited)

    def procs_files(self) -> list[str]:
        return [str(path / "cgroup.procs") for path in self.dirs]

    def destroy(self) -> None:
        for path in self.dirs:
            _remove(path)


def _members(path: Path) -> list[int]:
    try:
        return [int(p) for p in (path / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _remove(path: Path) -> None:
    """Kill every process left in the cgroup, then remove it (retrying while the kernel lets go)."""
    deadline = time.monotonic() + KILL_WAIT
    while path.exists():
        if (path / "cgroup.kill").exists():
            try:
                (path / "cgroup.kill").write_text("1")
            except OSError:
                pass
        for pid in _members(path):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)


@lru_cache(maxsize=1)
def _cgroup_parents() -> list[tuple[str, Path]]:
    parents = _cgroup_parents_found()
    for _, parent in parents:  # left behind by a worker that died mid-command
        for child in parent.glob("run-*-*"):
            pid = child.name.split("-")[1]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                _remove(child)
    return parents
