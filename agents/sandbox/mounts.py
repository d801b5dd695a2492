"""What a sandboxed command sees: an allowlist of mounts, never the host's `/` minus exceptions.

The root is bwrap's empty tmpfs, made read-only once every mount is in place. Into it go:
- the system directories read-only (/usr, and /bin, /sbin, /lib, /lib64 as the links or directories they are
  on the host);
- a minimal /etc: the loader's cache, time zone, `alternatives` (Debian's /usr/bin/awk, editor... point there),
  CA certificates and protocol/service tables (public data, so TLS set-up and socket look-ups behave as on the
  host), and passwd, group, nsswitch.conf and hosts written for the sandbox (root, nobody and the command's
  user; `files` only; localhost). Never shadow files, git/pip config, ssh, the machine id;
- the interpreter prefixes the worker runs with (pyenv's Python, the virtualenv), read-only, so verify commands
  such as `python -m pytest` find the repository's test dependencies;
- a private /tmp and /dev/shm (tmpfs), a minimal /dev, and /proc of the sandbox's own pid namespace;
- the worktree, read-write, and a git directory synthesized for it (`gitview.GitView`).

So /opt, /srv, /mnt, /var, /home, /root (but the interpreter prefix), /work, /run and /sys (which lists the
host's network interfaces) do not exist inside, nor do sibling worktrees, the app's code or its data.
"""

from __future__ import annotations

import os
import sys

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Host /etc entries shown read-only (symlinks are recreated as symlinks). Chosen for what ordinary commands
# need and nothing that may hold a secret or an identity: see the module docstring.
ETC_ENTRIES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "alternatives",
    "ssl/certs",
    "ssl/openssl.cnf",
    "protocols",
    "services",
    "os-release",
    "mtab",
)
NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files\nservices: files\nprotocols: files\n"
HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
PREFIX_PARTS = ("bin", "lib", "lib64", "include", "share", "pyvenv.cfg")


class Mounts:
    """bwrap mount arguments, in order. Directories the destinations need are made (0755) in the root tmpfs or
    in a tmpfs mounted earlier, never inside a bind (that would make them on the host)."""

    def __init__(self, data_fd) -> None:
        self.argv: list[str] = []
        self.data_fd = data_fd  # bytes -> a file descriptor bwrap reads (--ro-bind-data)
        self.mounts: dict[str, str] = {"/": "tmpfs"}  # destination -> "tmpfs" | "bind"
        self.made: set[str] = set()

    def _within(self, path: str) -> tuple[str, str]:
        best = "/"
        for mount in self.mounts:
            if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
                best = mount
        return best, self.mounts[best]

    def _parents(self, dest: str) -> None:
        parts = dest.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            path = "/" + "/".join(parts[:i])
            mount, kind = self._within(path)
            if path in self.made or path == mount or kind == "bind":
                continue
            self.argv += ["--dir", path]
            self.made.add(path)

    def bind(self, src: str, dest: str | None = None, writable: bool = False) -> None:
        dest = dest or src
        self._parents(dest)
        self.argv += ["--bind" if writable else "--ro-bind", src, dest]
        self.mounts[dest] = "bind"

    def tmpfs(self, dest: str, size: int | None = None, perms: str | None = None) -> None:
        self._parents(dest)
        self.argv += (["--perms", perms] if perms else []) + (["--size", str(size)] if size else [])
        self.argv += ["--tmpfs", dest]
        self.mounts[dest] = "tmpfs"

    def data(self, dest: str, content: str | bytes, perms: str = "0644") -> None:
        self._parents(dest)
        raw = content.encode() if isinstance(content, str) else content
        self.argv += ["--perms", perms, "--ro-bind-data", str(self.data_fd(raw)), dest]
        self.mounts[dest] = "bind"

    def dir(self, dest: str) -> None:
        self._parents(dest + "/x")
        if dest not in self.made and dest not in self.mounts and self._within(dest)[1] != "bind":
            self.argv += ["--dir", dest]
            self.made.add(dest)

    def symlink(self, target: str, dest: str) -> None:
        self._parents(dest)
        self.argv += ["--symlink", target, dest]

    def host_entry(self, path: str) -> None:
        """A host file, directory or symlink at the same path, read-only; nothing if the host has none."""
        if os.path.islink(path):
            self.symlink(os.readlink(path), path)
        elif os.path.exists(path):
            self.bind(path)


def toolchain_paths() -> list[str]:
    """The interpreter and virtualenv the app runs with (outside the system directories), so verify commands
    find pytest and the repository's test dependencies."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    system = tuple(d + "/" for d in SYSTEM_DIRS)
    return sorted(p for p in paths if os.path.isdir(p) and not (p + "/").startswith(system))


def tool_bin() -> str:
    """The virtualenv's bin directory, resolved: `.venv` may be a symlink the sandbox does not contain."""
    return os.path.join(os.path.realpath(sys.prefix), "bin")


def system_and_toolchain(mounts: Mounts, private: list[str], user: tuple[str, int, int]) -> None:
    """/usr and friends, the minimal /etc, and the interpreter prefixes; `private` are host paths that must not
    show (the app's code and data): a prefix that contains one is bound part by part instead."""
    for path in SYSTEM_DIRS:
        mounts.host_entry(path)
    mounts.dir("/etc")
    for entry in ETC_ENTRIES:
        mounts.host_entry(f"/etc/{entry}")
    name, uid, gid = user
    passwd = "root:x:0:0:root:/root:/usr/sbin/nologin\n"
    group = "root:x:0:\n"
    if uid != 0:
        passwd += f"{name}:x:{uid}:{gid}:{name}:/tmp:/bin/sh\n"
        group += f"{'nogroup' if gid == 65534 else name}:x:{gid}:\n"
    mounts.data("/etc/passwd", passwd)
    mounts.data("/etc/group", group)
    mounts.data("/etc/nsswitch.conf", NSSWITCH)
    mounts.data("/etc/hosts", HOSTS)
    for prefix in toolchain_paths():
        if any(p == prefix or p.startswith(prefix + "/") for p in private):
            for part in PREFIX_PARTS:
                mounts.host_entry(os.path.join(prefix, part))
        else:
            mounts.bind(prefix)
