"""Running one command: into its cgroups, under rlimits, through bwrap; output read up to a cap, a deadline or
a person's interrupt; every process killed at the end."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
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
    env: dict[str, str] | None = None,
) -> CommandResult:
    """`aexecute` for a caller without a loop of its own (verification, the self-test): a loop for this command."""
    return asyncio.run(aexecute(worktree, command, timeout, cap, extra_env, env))


async def aexecute(
    worktree: Path,
    command: str,
    timeout: float,
    cap: int,
    extra_env: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    files: dict[str, bytes] | None = None,
) -> CommandResult:
    """One command, its process waited for on the running loop (no thread waits with it). Cancelling the task kills
    it and returns what it printed so far (exit code 130): a person's interrupt answers the model with that.
    `extra_env` goes to the wrapper outside the sandbox (the self-test's canary); `env` to the command inside."""
    started = time.monotonic()
    cancelled = False
    preparing = asyncio.ensure_future(asyncio.to_thread(_prepare, worktree, command, env, files))
    try:
        cgroup, wrapper, data = await asyncio.shield(preparing)
    except asyncio.CancelledError:  # made all the same, to be undone: no cgroup left behind
        cancelled = True
        cgroup, wrapper, data = await preparing
    disk = DiskWatch(worktree, WORKTREE_MAX_BYTES(), WORKTREE_MAX_FILES())
    output, timed_out, truncated, proc = "", False, False, None
    try:
        if not cancelled:
            proc = await asyncio.create_subprocess_exec(
                *wrapper,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                env={"PATH": HOST_PATH, **(extra_env or {})},
                pass_fds=tuple(data.fds),
            )
            data.close()
            chunks = _Output(cap)
            try:
                timed_out = await _collect(proc, started + timeout, chunks, disk)
            except asyncio.CancelledError:
                cancelled = True
            output, truncated = chunks.text(), chunks.truncated
    finally:
        data.close()
        if proc is not None:
            _kill(proc)
            try:  # the rest of its output read and dropped: asyncio counts a process as ended once its pipe closes
                await asyncio.wait_for(asyncio.gather(_drain(proc.stdout), proc.wait()), KILL_WAIT)
            except TimeoutError:
                pass
        await asyncio.to_thread(cgroup.destroy)
    if not (disk.breach or timed_out or cancelled):
        disk.next_at = 0.0  # and once more at the end: a command quicker than the watch's interval is caught too
        await asyncio.to_thread(disk.over)
    if truncated:
        output += f"\n… [output cut at {cap} bytes]"
    if timed_out:
        output += f"\n… [killed after {timeout:g} s]"
    if disk.breach:
        output += f"\n… [killed: {disk.breach}; delete what you do not need]"
    elif cancelled:
        output += "\n… [interrupted: a person sent a message]"
    returncode = proc.returncode if proc is not None else None
    code = (
        124 if timed_out else 137 if disk.breach else 130 if cancelled else returncode if returncode is not None else -9
    )
    return CommandResult(
        command, code, output, timed_out, truncated, time.monotonic() - started, _describe_limits(cgroup)
    )


def _prepare(
    worktree: Path, command: str, env: dict[str, str] | None, files: dict[str, bytes] | None = None
) -> tuple[cgroups.Cgroup, list[str], DataFds]:
    """Everything but the start (in a thread: an ACL walk, cgroup files): the cgroup, the command line, its fds."""
    if as_root():
        acl.grant_worktree(worktree, SANDBOX_UID)
    cgroup = cgroups.Cgroup.create()
    rlimits = [f"--as={MEMORY_MAX}", f"--fsize={FILE_SIZE_MAX}", f"--nofile={OPEN_FILES_MAX}", "--core=0"]
    if "pids" not in cgroup.limited:
        rlimits.append(f"--nproc={NPROC_FALLBACK}")
    data = DataFds()
    try:
        argv = bwrap_argv(worktree, command, data, env, files)
    except BaseException:
        data.close()
        cgroup.destroy()
        raise
    wrapper = ["/bin/sh", "-c", _JOIN, "sh", *cgroup.procs_files(), "--"]
    wrapper += [shutil.which("prlimit") or "prlimit", *rlimits, "--", *argv]
    return cgroup, wrapper, data


class _Output:
    """What a command printed, kept up to the cap."""

    def __init__(self, cap: int) -> None:
        self.cap, self.size, self.chunks, self.truncated = cap, 0, [], False

    async def read(self, stream: asyncio.StreamReader) -> None:
        """Until EOF, or until past the cap (then `truncated`)."""
        while data := await stream.read(65536):
            self.chunks.append(data[: self.cap - self.size])
            self.size += len(data)
            if self.size > self.cap:
                self.truncated = True
                return

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", errors="replace")


async def _collect(proc: asyncio.subprocess.Process, deadline: float, out: _Output, disk: DiskWatch) -> bool:
    """Read output until EOF and exit, the cap, the deadline or the worktree's quota; True when the deadline came."""
    reader = asyncio.ensure_future(out.read(proc.stdout))
    try:
        while not reader.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            await asyncio.wait([reader], timeout=min(remaining, CANCEL_POLL))
            if not reader.done() and time.monotonic() >= disk.next_at and await asyncio.to_thread(disk.over):
                return False
        reader.result()
        if out.truncated:
            return False
    finally:
        reader.cancel()
    try:  # output closed; the command may still run (e.g. `exec >&-; sleep 100`)
        await asyncio.wait_for(proc.wait(), max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        return True
    return False


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


def _kill(proc: asyncio.subprocess.Process) -> None:
    """The wrapper is bwrap's session; bwrap's pid-1 dies with it and the kernel ends the pid namespace."""
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
