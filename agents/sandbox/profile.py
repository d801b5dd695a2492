"""The sandbox's profile: who commands run as, the limits they run under, and what a run returns."""

from __future__ import annotations

import os
from dataclasses import dataclass

from django.conf import settings

SANDBOX_UID = SANDBOX_GID = 65534  # nobody/nogroup: who commands run as when the worker is root
PIDS_MAX = 256  # per command, through the pids cgroup
MEMORY_MAX = 2 << 30  # RLIMIT_AS per process, and memory cgroup limit per command
FILE_SIZE_MAX = 100 << 20
TMP_SIZE = 512 << 20  # private /tmp and /dev/shm (tmpfs)
OPEN_FILES_MAX = 1024
NPROC_FALLBACK = 1024  # without a pids cgroup: per uid, so shared by every sandbox of that uid
KILL_WAIT = 5.0

HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def WORKTREE_MAX_BYTES() -> int:  # noqa: N802 (a setting read at each command, as the tests change it)
    return settings.SWARM_WORKTREE_MAX_BYTES


def WORKTREE_MAX_FILES() -> int:  # noqa: N802
    return settings.SWARM_WORKTREE_MAX_FILES


CANCEL_POLL = 0.25  # seconds between checks for a person's interrupt while a command runs
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
    limits: str = ""

    def as_dict(self) -> dict:
        return {
            "command": self.command,
            "exit_code": self.exit_code,
            "output": self.output,
            "timed_out": self.timed_out,
            "truncated": self.truncated,
            "seconds": round(self.seconds, 2),
            "limits": self.limits,
        }


def as_root() -> bool:
    return os.geteuid() == 0


def private_paths() -> list[str]:
    """Host paths that must never show inside, even when a toolchain prefix contains them."""
    return [os.path.realpath(p) for p in (settings.BASE_DIR, settings.DATA_DIR)]


def sandbox_user() -> tuple[str, int, int]:
    if as_root():
        return "nobody", SANDBOX_UID, SANDBOX_GID
    return "sandbox", os.getuid(), os.getgid()
