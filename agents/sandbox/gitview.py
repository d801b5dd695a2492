"""The git directory a sandboxed worktree sees: the objects, the agent's own branch, nothing of the host's
configuration or other branches."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from agents.sandbox.mounts import Mounts

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
