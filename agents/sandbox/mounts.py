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
- the worktree, read-write, and a git directory synthesized for it (`GitView`).

So /opt, /srv, /mnt, /var, /home, /root (but the interpreter prefix), /work, /run and /sys (which lists the
host's network interfaces) do not exist inside, nor do sibling worktrees, the app's code or its data.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

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

    def data(self, dest: str, content: str | bytes) -> None:
        self._parents(dest)
        raw = content.encode() if isinstance(content, str) else content
        self.argv += ["--perms", "0644", "--ro-bind-data", str(self.data_fd(raw)), dest]
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


# --- git: the objects, the agent's own branch, nothing of the host's configuration or other branches.
SHA = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})$")
REF = re.compile(r"^refs/heads/(?!.*(?:\.\.|//|/\.|@\{|\.lock/|\.lock$))[A-Za-z0-9._/+-]+(?<![/.])$")
ZERO = re.compile(r"^0+$")


@dataclass
class GitView:
    """A worktree's git metadata as the sandbox sees it, mounted at the host's own paths so the worktree's
    read-only `.git` pointer file resolves: `<common>` with a config written here, the objects (read-only) and
    only this worktree's branch; `<gitdir>` with its HEAD and index (read-only: the host does the commits).

    Not hidden: objects stay one shared store, so commits of other branches can still be read by hash, and
    listed (`git cat-file --batch-all-objects`); their names, the host's config (remote URLs), reflogs,
    packed-refs and hooks are not there."""

    common: Path
    gitdir: Path
    worktree: Path
    head: str  # "ref: refs/heads/<branch>" or a commit id
    ref: str | None = None  # refs/heads/<branch>
    commit: str | None = None
    base: str | None = None  # the commit the branch was created from, shown as tag `base`
    alternates: list[Path] = field(default_factory=list)

    def mount(self, mounts: Mounts) -> None:
        common, gitdir = str(self.common), str(self.gitdir)
        # its own small tmpfs, read-only once filled in: nothing inside can add a ref or a hook, wherever it is
        separate = not self.gitdir.is_relative_to(self.common)
        for path in [common] + [gitdir] * separate:
            mounts.tmpfs(path, size=1 << 20)
        mounts.data(f"{common}/config", self.config())
        mounts.data(f"{common}/HEAD", self.head + "\n")
        mounts.bind(f"{common}/objects")
        for alternate in self.alternates:
            mounts.bind(str(alternate))
        if (self.common / "shallow").is_file():
            mounts.bind(f"{common}/shallow")
        mounts.dir(f"{common}/refs/heads")
        mounts.dir(f"{common}/refs/tags")
        if self.ref and self.commit:
            mounts.data(f"{common}/{self.ref}", self.commit + "\n")
        if self.base:
            mounts.data(f"{common}/refs/tags/base", self.base + "\n")
        mounts.dir(gitdir)
        mounts.data(f"{gitdir}/HEAD", self.head + "\n")
        mounts.data(f"{gitdir}/commondir", common + "\n")
        mounts.data(f"{gitdir}/gitdir", str(self.worktree / ".git") + "\n")
        if (self.gitdir / "index").is_file():
            mounts.bind(f"{gitdir}/index")
        for path in [common] + [gitdir] * separate:
            mounts.argv += ["--remount-ro", path]

    def config(self) -> str:
        sha256 = self.commit is not None and len(self.commit) == 64
        text = f"[core]\n\trepositoryformatversion = {1 if sha256 else 0}\n\tfilemode = true\n\tbare = false\n"
        text += "\tlogallrefupdates = false\n"
        return text + ("[extensions]\n\tobjectformat = sha256\n" if sha256 else "")


def gitdirs_of(worktree: Path) -> tuple[Path, Path] | None:
    """(the worktree's own gitdir, the repository's common dir) for a linked worktree the host made."""
    dotgit = worktree / ".git"
    if not dotgit.is_file() or dotgit.is_symlink():
        return None
    text = dotgit.read_text(errors="replace").strip()
    if not text.startswith("gitdir:"):
        return None
    gitdir = (worktree / text.split(":", 1)[1].strip()).resolve()
    backlink = gitdir / "gitdir"
    # git records where each linked worktree lives; a pointer forged to some other directory has no such record
    if not backlink.is_file() or Path(backlink.read_text().strip()).resolve() != dotgit.resolve():
        return None
    if (gitdir / "commondir").is_file():
        common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
    elif gitdir.parent.name == "worktrees":
        common = gitdir.parent.parent
    else:
        return None
    if not (common / "objects").is_dir():
        return None
    if any(worktree == p or worktree in p.parents for p in (common, gitdir)):
        return None  # inside the worktree: written by the agent, not the host

    return gitdir, common


def _resolve(common: Path, ref: str) -> str | None:
    loose = common / ref
    if loose.is_file() and not loose.is_symlink():
        value = loose.read_text(errors="replace").strip()
        return value if SHA.match(value) else None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(errors="replace").splitlines():
            value, _, name = line.partition(" ")
            if name == ref and SHA.match(value):
                return value
    return None


def _created_from(common: Path, ref: str) -> str | None:
    """The branch's first reflog entry: `0000… <base> … branch: Created from …`."""
    log = common / "logs" / ref
    try:
        with log.open(errors="replace") as f:
            first = f.readline().split()
    except OSError:
        return None
    if len(first) >= 2 and ZERO.match(first[0]) and SHA.match(first[1]):
        return first[1]
    return None


def _alternates(objects: Path, depth: int = 0) -> list[Path]:
    """Object directories the store borrows from (objects/info/alternates, as `git clone --shared` writes)."""
    found: list[Path] = []
    listing = objects / "info" / "alternates"
    if depth > 4 or not listing.is_file():
        return found
    for line in listing.read_text(errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = (objects / line).resolve()
        if path.name == "objects" and path.is_dir():
            found += [path, *_alternates(path, depth + 1)]
    return found


def git_view(worktree: Path) -> GitView | None:
    """The synthesized git directory for a linked worktree; None when it is not one the host made (then no git
    metadata is shown at all)."""
    found = gitdirs_of(worktree)
    if found is None:
        return None
    gitdir, common = found
    try:
        head = (gitdir / "HEAD").read_text(errors="replace").strip()
    except OSError:
        return None
    view = GitView(common, gitdir, worktree, head, alternates=_alternates(common / "objects"))
    if head.startswith("ref:") and REF.match(head[4:].strip()):
        view.ref = head[4:].strip()
        view.head = f"ref: {view.ref}"
        view.commit = _resolve(common, view.ref)  # None on an unborn branch
        view.base = _created_from(common, view.ref)
    elif SHA.match(head):
        view.commit = head
    else:
        return None
    return view
