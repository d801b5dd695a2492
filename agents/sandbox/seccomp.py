"""The seccomp filter bwrap installs: no new user namespaces (root mode has no --disable-userns), no kernel
keyrings, bpf, userfaultfd, perf events or io_uring."""

from __future__ import annotations

import errno
import platform
import struct
from functools import lru_cache

_SYSCALLS = {
    "x86_64": (
        0xC000003E,
        {"unshare": 272, "clone": 56, "clone3": 435, "keyctl": 250, "add_key": 248, "request_key": 249,
         "bpf": 321, "userfaultfd": 323, "perf_event_open": 298, "io_uring_setup": 425, "io_uring_enter": 426,
         "io_uring_register": 427},
    ),
    "aarch64": (
        0xC00000B7,
        {"unshare": 97, "clone": 220, "clone3": 435, "keyctl": 219, "add_key": 217, "request_key": 218,
         "bpf": 280, "userfaultfd": 282, "perf_event_open": 241, "io_uring_setup": 425, "io_uring_enter": 426,
         "io_uring_register": 427},
    ),
}  # fmt: skip
CLONE_NEWUSER = 0x10000000


@lru_cache(maxsize=1)
def program() -> bytes | None:
    """A classic-BPF seccomp filter as bwrap --seccomp reads it; None on architectures we have no table for."""
    machine = platform.machine()
    if machine not in _SYSCALLS:
        return None
    audit_arch, nr = _SYSCALLS[machine]
    ld, jeq, jset, jge, ret = 0x20, 0x15, 0x45, 0x35, 0x06
    allow, kill = 0x7FFF0000, 0x80000000

    def deny(code: int) -> int:
        return 0x00050000 | code

    prog = [(ld, 0, 0, 4), (jeq, 1, 0, audit_arch), (ret, 0, 0, kill), (ld, 0, 0, 0)]
    if machine == "x86_64":
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, deny(errno.EPERM))]  # x32 syscall numbers
    for name in ("unshare", "clone"):  # flags are the first argument of both
        prog += [(jeq, 0, 4, nr[name]), (ld, 0, 0, 16), (jset, 0, 1, CLONE_NEWUSER)]
        prog += [(ret, 0, 0, deny(errno.EPERM)), (ret, 0, 0, allow)]
    prog += [(jeq, 0, 1, nr["clone3"]), (ret, 0, 0, deny(errno.ENOSYS))]  # flags in memory: libc falls back
    for name in ("keyctl", "add_key", "request_key", "bpf", "userfaultfd", "perf_event_open"):
        prog += [(jeq, 0, 1, nr[name]), (ret, 0, 0, deny(errno.EPERM))]
    for name in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
        prog += [(jeq, 0, 1, nr[name]), (ret, 0, 0, deny(errno.EPERM))]
    prog.append((ret, 0, 0, allow))
    return b"".join(struct.pack("<HBBI", *insn) for insn in prog)
