"""The bwrap command line: namespaces, capabilities, the seccomp filter, the mount allowlist, an empty
environment, and (root mode) the drop to the sandbox uid."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from agents.sandbox import gitview, seccomp
from agents.sandbox import mounts as sandbox_mounts
from agents.sandbox.profile import SANDBOX_GID, SANDBOX_UID, TMP_SIZE, as_root, private_paths, sandbox_user


class DataFds:
    """Memory files bwrap reads at start-up (the seccomp program, the /etc and git files written for the
    sandbox); closed once bwrap has started."""

    def __init__(self) -> None:
        self.fds: list[int] = []

    def add(self, data: bytes) -> int:
        fd = os.memfd_create("swarm-sandbox", 0)  # no MFD_CLOEXEC: bwrap reads it
        self.fds.append(fd)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
        return fd

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def bwrap_argv(
    worktree: Path,
    command: str,
    data: DataFds,
    env: dict[str, str] | None = None,
    files: dict[str, bytes] | None = None,
) -> list[str]:
    """The bwrap command line; the files it reads at start-up are added to `data` (the caller passes and
    closes them). `env`: variables the command gets besides the sandbox's own (the host's choice, never a secret).
    `files`: read-only files at absolute paths outside the worktree (a task's skills at /skills/<name>/...), the
    executable ones those under a scripts/ folder."""
    worktree = Path(worktree).resolve()
    argv = [
        shutil.which("bwrap") or "bwrap",
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session", "--hostname", "sandbox",
    ]  # fmt: skip
    if as_root():
        # No user namespace: it would map the sandbox to uid 0 outside. setpriv drops to SANDBOX_UID inside,
        # so bwrap keeps only the capabilities that drop needs, and the seccomp filter stops new user namespaces.
        argv += ["--cap-drop", "ALL"]
        argv += [a for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP") for a in ("--cap-add", cap)]
    else:
        argv += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    program = seccomp.program()
    if program is not None:
        argv += ["--seccomp", str(data.add(program))]
    # An allowlist on an empty root (sandbox_mounts); the root itself is read-only at the end.
    mounts = sandbox_mounts.Mounts(data.add)
    mounts.tmpfs("/tmp", size=TMP_SIZE, perms="1777")
    mounts.argv += ["--dev", "/dev", "--perms", "1777", "--size", str(TMP_SIZE), "--tmpfs", "/dev/shm"]
    mounts.argv += ["--proc", "/proc"]
    mounts.mounts.update({"/dev": "tmpfs", "/dev/shm": "tmpfs", "/proc": "bind"})
    sandbox_mounts.system_and_toolchain(mounts, private_paths(), sandbox_user())
    mounts.bind(str(worktree), writable=True)
    dotgit = worktree / ".git"
    if dotgit.exists() and not dotgit.is_symlink():
        # the pointer file (or a repository's own .git directory) read-only: a rewritten `gitdir:` would point
        # the host's git at a config the agent wrote
        mounts.bind(str(dotgit))
    for dest, content in sorted((files or {}).items()):
        mounts.data(dest, content, perms="0755" if "/scripts/" in dest else "0644")
    view = gitview.git_view(worktree)
    if view is not None:
        view.mount(mounts)
    argv += mounts.argv + ["--remount-ro", "/"]
    argv += [
        "--clearenv",
        "--setenv", "PATH", f"{sandbox_mounts.tool_bin()}:/usr/local/bin:/usr/bin:/bin",
        "--setenv", "HOME", "/tmp",
        "--setenv", "TMPDIR", "/tmp",
        "--setenv", "LANG", "C.UTF-8",
        "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
        # the worktree and the git files belong to the host's uid; let git inside read them (it cannot write them)
        "--setenv", "GIT_CONFIG_COUNT", "1",
        "--setenv", "GIT_CONFIG_KEY_0", "safe.directory",
        "--setenv", "GIT_CONFIG_VALUE_0", "*",
    ]  # fmt: skip
    for name, value in (env or {}).items():
        argv += ["--setenv", name, value]
    argv += ["--chdir", str(worktree), "--"]
    if as_root():
        argv += [
            shutil.which("setpriv") or "/usr/bin/setpriv",
            f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
        ]  # fmt: skip
    return argv + ["/bin/sh", "-c", command]
