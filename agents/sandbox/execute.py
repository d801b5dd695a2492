"""Running one command: into its cgroups, under rlimits, through bwrap; output read up to a cap, a deadline or
a person's interrupt; every process killed at the end."""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from agents.sandbox import acl, cgroups, seccomp
from agents.sandbox.argv import DataFds, bwrap_argv
from agents.sandbox.profile import (
    CANCEL_POLL,
    FILE_SIZE_MAX,
    HOST_PATH,
    KILL_WAIT,
    MEMORY_MAX,
    NPROC_FALLBACK,
    OPEN_FILES_MAX,
    PIDS_MAX,
    SANDBOX_UID,
    TMP_SIZE,
    WORKTREE_MAX_BYTES,
    WORKTREE_MAX_FILES,
    CommandResult,
    as_root,
)


def _describe_limits(cgroup: cgroups.Cgroup) -> str:
    parts = [f"pids cgroup {PIDS_MAX}"] if "pids" in cgroup.limited else [f"RLIMIT_NPROC {NPROC_FALLBACK} (per uid)"]
    if "memory" in cgroup.limited:
        parts.append(f"memory cgroup {MEMORY_MAX >> 30} GiB")
    parts += [
        f"RLIMIT_AS {MEMORY_MAX >> 30} GiB",
        f"file size {FILE_SIZE_MAX >> 20} MiB",
        f"{OPEN_FILES_MAX} open files",
        f"/tmp {TMP_SIZE >> 20} MiB",
    ]
    if seccomp.program() is None:
        parts.append("no seccomp filter on this architecture")
    return ", ".join(parts)


# The command joins its cgroups before anything of it runs, then execs prlimit -> bwrap.
_JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


class DiskWatch:
    """The worktree's quota (RELIABILITY 18): its bytes and files, counted by a walk that never follows links, at
    most every POLL seconds and never more than a tenth of the time (a big tree is walked less often)."""

    POLL = 0.5

    def __init__(self, worktree: Path, max_bytes: int, max_files: int):
        self.worktree, self.max_bytes, self.max_files = worktree, max_bytes, max_files
        self.next_at = 0.0
        self.breach = ""

    def over(self) -> bool:
        now = time.monotonic()
        if self.breach or now < self.next_at or not (self.max_bytes or self.max_files):
            return bool(self.breach)
        size, files = usage(self.worktree, self.max_bytes, self.max_files)
        spent = time.monotonic() - now
        self.next_at = time.monotonic() + max(self.POLL, 10 * spent)
        if self.max_bytes and size > self.max_bytes:
            self.breach = f"the worktree holds over {self.max_bytes} bytes (SWARM_WORKTREE_MAX_BYTES)"
        elif self.max_files and files > self.max_files:
            self.breach = f"the worktree holds over {self.max_files} files (SWARM_WORKTREE_MAX_FILES)"
        return bool(self.breach)


def usage(root: Path, max_bytes: int = 0, max_files: int = 0) -> tuple[int, int]:
    """(bytes, files) under root, links not followed; stops counting once past either limit (0: no limit)."""
    size = files = 0
    stack = [str(root)]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                        continue
                    size += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
                files += 1
                if (max_bytes and size > max_bytes) or (max_files and files > max_files):
                    return size, files
    return size, files


def execute(
    worktree: Path,
    command: str,
    timeout: float,
    cap: int,
    extra_env: dict[str, str] | None = None,
    cancel: Callable[[], bool] | None = None,
    env: dict[str, str] | None = None,
) -> CommandResult:
    """`extra_env` goes to the wrapper outside the sandbox (the self-test's canary); `env` to the command inside."""
    if as_root():
        acl.grant_worktree(worktree, SANDBOX_UID)
    cgroup = cgroups.Cgroup.create()
    rlimits = [f"--as={MEMORY_MAX}", f"--fsize={FILE_SIZE_MAX}", f"--nofile={OPEN_FILES_MAX}", "--core=0"]
    if "pids" not in cgroup.limited:
        rlimits.append(f"--nproc={NPROC_FALLBACK}")
    started = time.monotonic()
    data = DataFds()
    try:
        argv = bwrap_argv(worktree, command, data, env)
        wrapper = ["/bin/sh", "-c", _JOIN, "sh", *cgroup.procs_files(), "--"]
        wrapper += [shutil.which("prlimit") or "prlimit", *rlimits, "--", *argv]
        proc = subprocess.Popen(
            wrapper,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={"PATH": HOST_PATH, **(extra_env or {})},
            pass_fds=tuple(data.fds),
        )
    except BaseException:
        cgroup.destroy()
        raise
    finally:
        data.close()
    disk = DiskWatch(worktree, WORKTREE_MAX_BYTES(), WORKTREE_MAX_FILES())

    def stop() -> bool:
        return disk.over() or (cancel is not None and cancel())

    try:
        output, timed_out, truncated, cancelled = _collect(proc, started + timeout, cap, stop)
    finally:
        _kill(proc)
        try:
            proc.wait(timeout=KILL_WAIT)
        except subprocess.TimeoutExpired:
            pass
        cgroup.destroy()
        proc.stdout.close()
    if not disk.breach and not timed_out:
        disk.next_at = 0.0  # and once more at the end: a command quicker than the watch's interval is caught too
        if disk.over():
            cancelled = True
    if truncated:
        output += f"\n… [output cut at {cap} bytes]"
    if timed_out:
        output += f"\n… [killed after {timeout:g} s]"
    if cancelled and disk.breach:
        output += f"\n… [killed: {disk.breach}; delete what you do not need]"
    elif cancelled:
        output += "\n… [interrupted: a person sent a message]"
    code = (
        124
        if timed_out
        else 137
        if disk.breach
        else 130
        if cancelled
        else proc.returncode
        if proc.returncode is not None
        else -9
    )
    return CommandResult(
        command, code, output, timed_out, truncated, time.monotonic() - started, _describe_limits(cgroup)
    )


def _collect(
    proc: subprocess.Popen, deadline: float, cap: int, cancel: Callable[[], bool] | None = None
) -> tuple[str, bool, bool, bool]:
    """Read output until EOF and exit, the cap, the deadline or a cancel; (output, timed_out, truncated, cancelled)."""
    chunks: list[bytes] = []
    size = 0
    fd = proc.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b"".join(chunks).decode("utf-8", errors="replace"), True, False, False
            if cancel is not None and cancel():
                return b"".join(chunks).decode("utf-8", errors="replace"), False, False, True
            if not selector.select(min(remaining, CANCEL_POLL)):
                continue
            data = os.read(fd, 65536)
            if not data:
                break
            chunks.append(data[: cap - size])
            size += len(data)
            if size > cap:
                return b"".join(chunks).decode("utf-8", errors="replace"), False, True, False
    text = b"".join(chunks).decode("utf-8", errors="replace")
    try:  # output closed; the command may still run (e.g. `exec >&-; sleep 100`)
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return text, True, False, False
    return text, False, False, False


def _kill(proc: subprocess.Popen) -> None:
    """The wrapper is bwrap's session; bwrap's pid-1 dies with it and the kernel ends the pid namespace."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
