"""Every command an agent (or a verification) runs goes through here, inside bubblewrap.

Profile: RELIABILITY.md section (c). Read-only system, only the worktree writable, no network, sibling
worktrees and app data hidden, git metadata read-only, empty environment, per-command limits.
Where bubblewrap cannot run safely, commands are refused: never run unsandboxed silently.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings

FIX_HINT = (
    "Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and allow unprivileged user namespaces "
    "(sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 also "
    "kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap)."
)


class SandboxUnavailable(Exception):
    pass


@dataclass
class CommandResult:
    command: str
    exit_code: int
    output: str
    timed_out: bool = False
    truncated: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "command": self.command,
            "exit_code": self.exit_code,
            "output": self.output,
            "timed_out": self.timed_out,
            "truncated": self.truncated,
            "seconds": round(self.seconds, 2),
        }


def _toolchain_paths() -> list[str]:
    """The interpreter and virtualenv the app runs with, so verify commands find pytest."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    return sorted(p for p in paths if os.path.isdir(p))


def _gitdir_of(worktree: Path) -> Path | None:
    dotgit = worktree / ".git"
    if dotgit.is_file():
        text = dotgit.read_text(errors="replace").strip()
        if text.startswith("gitdir:"):
            gitdir = Path(text.split(":", 1)[1].strip())
            # <repo>/.git/worktrees/<name> -> the common dir <repo>/.git
            return gitdir.parent.parent if gitdir.parent.name == "worktrees" else gitdir
    return None


def bwrap_argv(worktree: Path, command: str) -> list[str]:
    data_dir = str(settings.DATA_DIR)
    argv = [
        "bwrap",
        "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--ro-bind", "/", "/",
        "--tmpfs", "/home", "--tmpfs", "/root", "--tmpfs", "/run",
        "--size", str(512 * 1024 * 1024), "--tmpfs", "/tmp",
        "--tmpfs", data_dir,
    ]  # fmt: skip
    for path in _toolchain_paths():
        argv += ["--ro-bind", path, path]
    gitdir = _gitdir_of(worktree)
    if gitdir is not None and gitdir.is_dir():
        argv += ["--ro-bind", str(gitdir), str(gitdir)]
    venv_bin = os.path.join(sys.prefix, "bin")
    argv += [
        "--bind", str(worktree), str(worktree),
        "--dev", "/dev", "--proc", "/proc",
        "--clearenv",
        "--setenv", "PATH", f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "--setenv", "HOME", str(worktree),
        "--setenv", "TMPDIR", "/tmp",
        "--setenv", "LANG", "C.UTF-8",
        "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
        "--chdir", str(worktree),
        "--", "/bin/sh", "-c", command,
    ]  # fmt: skip
    return argv


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    resource.setrlimit(resource.RLIMIT_FSIZE, (100 << 20, 100 << 20))
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


@lru_cache(maxsize=1)
def availability() -> tuple[bool, str]:
    """Startup self-test: can bubblewrap start, and does it hide the network and the host?"""
    if shutil.which("bwrap") is None:
        return False, "bubblewrap (bwrap) is not installed. " + FIX_HINT
    probe = Path(settings.DATA_DIR) / "sandbox-probe"
    probe.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(
            bwrap_argv(
                probe,
                "echo ok > inside.txt && cat inside.txt && test $(tail -n +3 /proc/net/dev | grep -vc '^ *lo:') = 0",
            ),
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap failed to start: {exc}. " + FIX_HINT
    if proc.returncode != 0 or "ok" not in proc.stdout:
        return False, f"bubblewrap self-test failed: {(proc.stderr or proc.stdout).strip()[:300]}. " + FIX_HINT
    return True, "bubblewrap sandbox: no network, read-only system, only the worktree writable"


def run(
    worktree: str | Path, command: str, timeout: float | None = None, output_cap: int | None = None
) -> CommandResult:
    """Run a shell command in the worktree's sandbox; output capped, process group killed on timeout."""
    ok, why = availability()
    if not ok:
        raise SandboxUnavailable(why)
    worktree = Path(worktree).resolve()
    timeout = timeout or settings.SWARM_COMMAND_TIMEOUT
    cap = output_cap or settings.SWARM_OUTPUT_CAP
    started = time.monotonic()
    proc = subprocess.Popen(
        bwrap_argv(worktree, command),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_limits,
        env={"PATH": "/usr/bin:/bin"},
    )
    chunks: list[bytes] = []
    size = 0
    truncated = timed_out = False
    os.set_blocking(proc.stdout.fileno(), False)
    while True:
        try:
            data = proc.stdout.read(65536)
        except BlockingIOError:
            data = None
        if data:
            if size < cap:
                chunks.append(data[: cap - size])
            size += len(data)
            if size > cap:
                truncated = True
                _kill(proc)
                break
        elif data == b"":
            break
        if time.monotonic() - started > timeout:
            timed_out = True
            _kill(proc)
            break
        if data is None:
            time.sleep(0.01)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.wait(timeout=5)
    output = b"".join(chunks).decode("utf-8", errors="replace")
    if truncated:
        output += f"\n… [output cut at {cap} bytes]"
    if timed_out:
        output += f"\n… [killed after {timeout:g} s]"
    code = proc.returncode if not timed_out else 124
    return CommandResult(command, code, output, timed_out, truncated, time.monotonic() - started)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
