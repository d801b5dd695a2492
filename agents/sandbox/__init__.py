"""Every command an agent (or a verification) runs goes through here, inside bubblewrap.

Profile: RELIABILITY.md section (c), with an allowlist of mounts instead of the host's `/` (`mounts`: the
system and toolchain directories read-only, a minimal /etc, a private /tmp, the worktree, and a git directory
holding only the objects and the agent's own branch). No network (nor host Unix sockets), an empty environment,
and per-command limits: a pids and memory cgroup where one can be made, rlimits always.
When the worker runs as root the command itself runs as an unprivileged uid: root without capabilities still
owns every root-only file on the host (/etc/shadow, a 0600 .env) and is exempt from RLIMIT_NPROC.
The startup self-test proves the denials on this machine; if one fails, commands are refused, never run
unsandboxed.

The modules, by role: `profile` (uid, limits, CommandResult), `argv` (the bwrap command line), `mounts` (the
allowlist), `gitview` (the git directory a worktree sees), `seccomp`, `acl` (worktree access for the sandbox
uid), `cgroups`, `execute` (one command, start to kill) and `selftest`. Callers use `run` (or `arun` on a
running loop, after `ready`) and `availability`.
"""

from __future__ import annotations

import shutil
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from agents.sandbox import execute, selftest
from agents.sandbox.argv import bwrap_argv
from agents.sandbox.profile import (
    FILE_SIZE_MAX,
    FIX_HINT,
    MEMORY_MAX,
    PIDS_MAX,
    SANDBOX_GID,
    SANDBOX_UID,
    CommandResult,
    SandboxUnavailable,
    as_root,
)

__all__ = [
    "FILE_SIZE_MAX",
    "MEMORY_MAX",
    "PIDS_MAX",
    "SANDBOX_GID",
    "SANDBOX_UID",
    "CommandResult",
    "SandboxUnavailable",
    "arun",
    "availability",
    "bwrap_argv",
    "ready",
    "run",
]


@lru_cache(maxsize=1)
def availability() -> tuple[bool, str]:
    """Startup self-test: can bubblewrap start, and do its denials hold on this machine?"""
    if shutil.which("bwrap") is None:
        return False, "bubblewrap (bwrap) is not installed. " + FIX_HINT
    needed = ["prlimit"] + (["setpriv"] if as_root() else [])
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        return False, f"{', '.join(missing)} (util-linux) is missing; the sandbox needs it to apply its limits."
    return selftest.self_test()


def ready(worktree: str | Path) -> Path:
    """The worktree a command may run in (resolved), or SandboxUnavailable saying why none can."""
    ok, why = availability()
    if not ok:
        raise SandboxUnavailable(why)
    worktree = Path(worktree).resolve()
    if not worktree.is_dir():
        raise SandboxUnavailable(f"the worktree {worktree} does not exist")
    return worktree


def run(
    worktree: str | Path,
    command: str,
    timeout: float | None = None,
    output_cap: int | None = None,
    env: dict[str, str] | None = None,
) -> CommandResult:
    """Run a shell command in the worktree's sandbox; output capped, every process killed at the end. `env` adds
    variables to the command's otherwise empty environment (the host's own settings, such as a report path)."""
    return execute.execute(
        ready(worktree),
        command,
        timeout or settings.SWARM_COMMAND_TIMEOUT,
        output_cap or settings.SWARM_OUTPUT_CAP,
        env=env,
    )


async def arun(worktree: str | Path, command: str, files: dict[str, bytes] | None = None) -> CommandResult:
    """`run` as a coroutine, for the running loop (agents/inflight.py): the command holds no thread while it runs,
    and cancelling it kills it (its result then says so, exit code 130). The caller checked `ready` already.
    `files`: read-only files the command sees at those absolute paths (the task's skills)."""
    return await execute.aexecute(
        Path(worktree).resolve(), command, settings.SWARM_COMMAND_TIMEOUT, settings.SWARM_OUTPUT_CAP, files=files
    )
