"""The startup self-test: a probe run in a real sandbox that tries each escape (a write outside, a sibling
worktree, host TCP and Unix sockets, a new user namespace, host directories outside the allowlist, the worker's
environment) and reports which held."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import tempfile
import time
from pathlib import Path

from django.conf import settings

from agents.sandbox import acl, execute
from agents.sandbox import mounts as sandbox_mounts
from agents.sandbox.profile import FIX_HINT, SANDBOX_UID, as_root

_PROBE = r"""
import json, os, socket, sys
out = {}
def attempt(name, fn):
    try:
        out[name] = "allowed: " + str(fn())
    except Exception as exc:
        out[name] = "denied: " + type(exc).__name__
def write_outside():
    with open(sys.argv[1], "w") as f:
        f.write("escaped")
def tcp():
    socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=2).close()
def unix():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    s.connect(sys.argv[4])
    s.close()
attempt("write_worktree", lambda: open("probe-inside.txt", "w").write("inside"))
attempt("write_outside", write_outside)
attempt("read_sibling", lambda: open(sys.argv[2]).read())
attempt("tcp_loopback", tcp)
attempt("unix_socket", unix)
attempt("new_user_namespace", lambda: os.unshare(os.CLONE_NEWUSER))
out["listings"] = {d: sorted(os.listdir(d)) if os.path.isdir(d) else None for d in sys.argv[5].split(",") if d}
out["etc_shadow"] = os.path.exists("/etc/shadow")
out["env_canary"] = "visible" if os.environ.get("SWARM_SANDBOX_CANARY") else "hidden"
out["uid"] = os.getuid()
print("PROBE" + json.dumps(out))
"""


class _Listeners:
    """A TCP listener on host loopback and a Unix socket in the data dir. Nothing accepts: a connection that
    got through waits in the backlog, where `pending()` finds it."""

    def __init__(self, sock_dir: Path) -> None:
        self.spare_dir = None
        self.unix_path = str(sock_dir / "probe.sock")
        if len(self.unix_path) > 100:  # sun_path holds 108 bytes
            self.spare_dir = tempfile.mkdtemp(prefix="swarm-probe-")
            self.unix_path = os.path.join(self.spare_dir, "probe.sock")
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.unix_path)
        self.unix.listen(8)
        for listener in (self.tcp, self.unix):
            listener.setblocking(False)

    def pending(self) -> int:
        count = 0
        for listener in (self.tcp, self.unix):
            while True:
                try:
                    listener.accept()[0].close()
                except BlockingIOError:
                    break
                count += 1
        return count

    def host_can_connect(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2), socket.socket(socket.AF_UNIX) as s:
            s.connect(self.unix_path)
            time.sleep(0.05)
            return self.pending() == 2

    def close(self) -> None:
        self.tcp.close()
        self.unix.close()
        os.unlink(self.unix_path)
        if self.spare_dir:
            shutil.rmtree(self.spare_dir, ignore_errors=True)


def self_test() -> tuple[bool, str]:
    # a directory of its own: several worker processes may test at once on one data dir
    root = Path(settings.DATA_DIR) / "sandbox-probe" / f"{os.getpid()}-{secrets.token_hex(4)}"
    worktree, sibling = root / "worktree", root / "sibling"
    for path in (worktree, sibling):
        path.mkdir(parents=True)
    try:
        return _probe(root, worktree, sibling)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _probe(root: Path, worktree: Path, sibling: Path) -> tuple[bool, str]:
    if as_root():
        try:
            acl.grant_worktree(worktree, SANDBOX_UID)
        except OSError as exc:
            return False, (
                f"the data directory's filesystem refused a POSIX ACL ({exc.strerror}); the worker runs as root, "
                "so commands run as another uid, which needs an ACL to write its worktree. "
                "Use a filesystem with ACLs (ext4, xfs, btrfs, tmpfs) or run the worker as an unprivileged user."
            )
    secret = secrets.token_hex(8)
    (sibling / "secret.txt").write_text(secret)
    # host directories with something the sandbox must not show (the positive control: it is there on the host)
    hidden = {d: names for d, names in _host_listings(worktree).items() if names}
    outside = root / "outside.txt"
    canary = secrets.token_hex(8)
    listeners = _Listeners(root)
    try:
        if not listeners.host_can_connect():
            return False, "sandbox self-test could not reach its own test listeners on the host"
        command = (
            f"python -c {_quote(_PROBE)} {outside} {sibling / 'secret.txt'} {listeners.port} {listeners.unix_path} "
            + _quote(",".join(hidden))
        )
        try:
            result = execute.execute(worktree, command, 30, 64 * 1024, extra_env={"SWARM_SANDBOX_CANARY": canary})
        except OSError as exc:
            return False, f"bubblewrap failed to start: {exc}. " + FIX_HINT
        accepted_inside = listeners.pending()
    finally:
        listeners.close()
    marker = result.output.rfind("PROBE{")
    if result.exit_code != 0 or marker < 0:
        return False, f"bubblewrap self-test failed: {result.output.strip()[:300]}. " + FIX_HINT
    seen = json.loads(result.output[marker + 5 :].splitlines()[0])
    failures = []
    inside = worktree / "probe-inside.txt"
    if not seen["write_worktree"].startswith("allowed") or not inside.is_file() or inside.read_text() != "inside":
        failures.append("writing in the worktree did not work")
    if outside.exists():
        failures.append("a write outside the worktree reached the host")
    if secret in seen["read_sibling"]:
        failures.append("another worktree's file was readable")
    if not seen["tcp_loopback"].startswith("denied") or not seen["unix_socket"].startswith("denied"):
        failures.append("a host socket was reachable")
    if accepted_inside:
        failures.append("the host listeners accepted a connection from inside")
    if not seen["new_user_namespace"].startswith("denied"):
        failures.append("a new user namespace could be created")
    if seen["env_canary"] != "hidden" or canary in result.output:
        failures.append("the worker's environment was visible")
    if os.geteuid() == 0 and seen["uid"] == 0:
        failures.append("commands ran as root")
    shown = sorted(f"{d}/{n}" for d, names in hidden.items() for n in set(seen["listings"].get(d) or ()) & names)
    if shown:
        failures.append(f"host paths outside the allowlist were visible ({', '.join(shown[:5])})")
    if seen["etc_shadow"] and os.path.exists("/etc/shadow"):
        failures.append("/etc/shadow was visible")
    if failures:
        return False, "sandbox self-test failed, so commands are refused: " + "; ".join(failures) + "."
    return True, (
        f"bubblewrap sandbox: commands run as uid {seen['uid']} with no network or host sockets, only their "
        "worktree writable, the system and toolchain directories read-only and nothing else of the host's "
        f"files, git metadata read-only, an empty environment; limits: {result.limits}"
    )


PROBED_DIRS = ("/opt", "/srv", "/mnt", "/var", "/home", "/root", "/run", "/sys/class/net", "/work")


def _host_listings(worktree: Path) -> dict[str, set[str]]:
    """What the host has in PROBED_DIRS and the home directory, minus the entries on the way to a path the
    sandbox does mount (the interpreter prefix under /root, a data directory under /var...)."""
    mounted = [*sandbox_mounts.toolchain_paths(), str(worktree)]
    listings = {}
    for directory in {*PROBED_DIRS, os.path.expanduser("~")}:
        try:
            names = set(os.listdir(directory))
        except OSError:
            continue
        for path in mounted:
            if path.startswith(directory.rstrip("/") + "/"):
                names.discard(path[len(directory.rstrip("/")) + 1 :].split("/")[0])
        listings[directory] = names
    return listings


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
