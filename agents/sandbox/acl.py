"""Worktree access for the sandbox uid (root mode): POSIX ACLs, so host-created files stay root's."""

from __future__ import annotations

import errno
import os
import stat
import struct
import time
from pathlib import Path

_ACL_UNDEFINED = 0xFFFFFFFF
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP, _ACL_MASK, _ACL_OTHER = 1, 2, 4, 8, 16, 32


def _acl_entries(blob: bytes) -> list[tuple[int, int, int]]:
    return [struct.unpack_from("<HHI", blob, off) for off in range(4, len(blob), 8)]


def _acl_with_user(entries: list[tuple[int, int, int]], uid: int, perm: int) -> bytes:
    entries = [e for e in entries if not (e[0] == _ACL_USER and e[2] == uid) and e[0] != _ACL_MASK]
    entries.append((_ACL_USER, perm, uid))
    mask = 0
    for tag, p, _ in entries:
        if tag in (_ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP):
            mask |= p
    entries.append((_ACL_MASK, mask, _ACL_UNDEFINED))
    entries.sort(key=lambda e: (e[0], e[2]))
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def _mode_entries(mode: int) -> list[tuple[int, int, int]]:
    return [
        (_ACL_USER_OBJ, (mode >> 6) & 7, _ACL_UNDEFINED),
        (_ACL_GROUP_OBJ, (mode >> 3) & 7, _ACL_UNDEFINED),
        (_ACL_OTHER, mode & 7, _ACL_UNDEFINED),
    ]


def _grant(fd: int, mode: int, uid: int, perm: int, default: bool) -> None:
    for name in ("system.posix_acl_access", "system.posix_acl_default") if default else ("system.posix_acl_access",):
        try:
            entries = _acl_entries(os.getxattr(fd, name))
        except OSError as exc:
            if exc.errno != errno.ENODATA:
                raise
            # no ACL yet: the mode's group bits are still the owning group's, not a mask
            entries = _mode_entries(0o755 if name.endswith("default") else mode)
        mask = next((p for t, p, _ in entries if t == _ACL_MASK), 7)
        if any(t == _ACL_USER and i == uid and p & mask & perm == perm for t, p, i in entries):
            continue  # already granted (a host chmod narrows the mask, so that is checked too)
        os.setxattr(fd, name, _acl_with_user(entries, uid, perm))


_granted: dict[str, float] = {}  # worktree -> wall-clock start of its last complete grant walk
_GRANT_DEPTH = 200
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def grant_worktree(worktree: Path, uid: int) -> None:
    """Let `uid` write the worktree (never the .git pointer), without following links the sandbox planted.

    Only directories whose entries changed since the last walk (their ctime) are looked into again: files the
    host adds there later inherit the default ACL anyway; this catches checkouts, moves and replacements.
    """
    top = str(worktree)
    since = _granted.get(top, 0.0)
    started = time.time()
    fd = os.open(top, _DIR_FLAGS)
    try:
        _grant_dir(fd, uid, since, 0)
    finally:
        os.close(fd)
    _granted[top] = started - 1.0  # slack for the filesystem's coarse timestamps


def _grant_dir(dirfd: int, uid: int, since: float, depth: int) -> None:
    st = os.fstat(dirfd)
    changed = st.st_ctime >= since
    if changed:
        _grant(dirfd, st.st_mode, uid, 7, default=True)
    with os.scandir(dirfd) as entries:
        for entry in entries:
            if depth == 0 and entry.name == ".git":
                continue
            if entry.is_dir(follow_symlinks=False) and depth < _GRANT_DEPTH:
                flags, recurse = _DIR_FLAGS, True
            elif changed and entry.is_file(follow_symlinks=False):
                flags, recurse = _FILE_FLAGS, False
            else:
                continue
            try:
                fd = os.open(entry.name, flags, dir_fd=dirfd)
            except OSError:
                continue  # swapped for a link (ELOOP) or gone
            try:
                if recurse:
                    _grant_dir(fd, uid, since, depth + 1)
                    continue
                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode):
                    _grant(fd, st.st_mode, uid, 6 | (1 if st.st_mode & 0o100 else 0), default=False)
            finally:
                os.close(fd)
