"""The sandbox every agent command runs in (RELIABILITY tests 16-18, 21c, 22).

Each denial comes with its positive control: the same action, run on the host by the same worker, succeeds.
So a denial can only pass because the sandbox stopped it, not because the action was broken to begin with.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest
from django.conf import settings

from agents import demo, sandbox, services, worktrees
from agents.models import Agent

PG_SOCKET = "/var/run/postgresql/.s.PGSQL.5432"


@pytest.fixture(scope="module")
def trees():
    """A demo repository in the data dir with two agents' worktrees: Ada's (sandboxed) and Grace's (the target)."""
    token = secrets.token_hex(4)
    repo = Path(settings.DATA_DIR) / "repos" / f"sandbox-{token}"
    demo.create_demo_repo(repo)
    task_id = 900_000 + secrets.randbelow(99_999)
    spec = SimpleNamespace(path=str(repo), default_branch="main")
    _, ada, _ = worktrees.create(spec, task_id, "Ada")
    _, grace, _ = worktrees.create(spec, task_id, "Grace")
    return SimpleNamespace(repo=repo, ada=ada, grace=grace)


def host(command: str, cwd: Path | str = "/", **kwargs) -> subprocess.CompletedProcess:
    """The positive control: the same command, run by the worker outside the sandbox."""
    return subprocess.run(["/bin/sh", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=30, **kwargs)


def processes_with(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if marker in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def gone_within(marker: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while processes_with(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class BannerServer:
    """Accepts connections (TCP on host loopback, or a Unix socket path) and answers each with a banner."""

    def __init__(self, unix_path: str | None = None) -> None:
        self.banner = f"banner-{secrets.token_hex(6)}"
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.bind("\0" + unix_path[1:] if unix_path.startswith("@") else unix_path)
            self.address = unix_path
        else:
            self.sock = socket.create_server(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.sendall(self.banner.encode())
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
        if self.address.startswith("/"):
            os.unlink(self.address)


CONNECT = """import socket, sys
addr = sys.argv[1]
if addr[0] in "/@":
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(3)
    s.connect(chr(0) + addr[1:] if addr[0] == "@" else addr)
else:
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=3)
print("connected", s.recv(100).decode())
"""


def connect_command(python: str, address: str) -> str:
    return f"{python} -c '{CONNECT}' {address}"


# --- the positive path


def test_a_command_runs_in_its_worktree_writes_there_and_reads_git(trees):
    result = sandbox.run(trees.ada, "pwd; echo made-inside > inside.txt && cat inside.txt; git status --short")
    assert result.exit_code == 0, result.output
    assert str(trees.ada) in result.output
    assert "made-inside" in result.output
    assert "?? inside.txt" in result.output  # git works inside: the gitdir is readable
    assert (trees.ada / "inside.txt").read_text() == "made-inside\n"
    assert "pids cgroup" in result.limits or "RLIMIT_NPROC" in result.limits
    timings = [sandbox.run(trees.ada, "true").seconds for _ in range(3)]
    print(f"sandboxed `true`: {min(timings) * 1000:.0f} ms (best of 3); limits: {result.limits}")


def test_files_stay_editable_by_both_the_host_tools_and_the_sandbox(trees):
    (trees.ada / "notes").mkdir(exist_ok=True)
    (trees.ada / "notes" / "host.txt").write_text("written by a file tool\n")  # as agents.tools does, on the host
    result = sandbox.run(trees.ada, "echo appended >> notes/host.txt && mkdir -p made/deep && echo x > made/deep/f")
    assert result.exit_code == 0, result.output
    assert (trees.ada / "notes" / "host.txt").read_text() == "written by a file tool\nappended\n"
    (trees.ada / "made" / "deep" / "f").write_text("edited on the host\n")
    assert sandbox.run(trees.ada, "cat made/deep/f").output.strip() == "edited on the host"


def test_the_demo_verify_command_runs_pytest_inside_a_launched_worktree(demo):
    _, task = demo
    agents = services.launch_task(task)
    ada = Agent.objects.get(pk=agents[0].pk)
    failing = sandbox.run(ada.worktree, task.verify_command)
    assert failing.exit_code == 1, failing.output
    assert "1 failed, 4 passed" in failing.output
    source = Path(ada.worktree) / "mathutil.py"
    source.write_text(source.read_text().replace("(len(values) - 1)", "len(values)"))
    passing = sandbox.run(ada.worktree, task.verify_command)
    assert passing.exit_code == 0, passing.output
    assert "5 passed" in passing.output


# --- filesystem (test 16)


@pytest.mark.parametrize("where", ["data dir", "host /tmp", "other worktree", "app code"])
def test_writes_outside_the_worktree_never_reach_the_host(trees, where):
    name = f"escape-{secrets.token_hex(4)}.txt"
    target = {
        "data dir": Path(settings.DATA_DIR) / name,
        "host /tmp": Path("/tmp") / name,
        "other worktree": trees.grace / name,
        "app code": Path(settings.BASE_DIR) / name,
    }[where]
    command = f"echo escaped > {target}"
    sandbox.run(trees.ada, command)
    assert not target.exists()
    control = host(command, cwd=trees.ada)
    assert control.returncode == 0 and target.read_text() == "escaped\n"
    target.unlink()


def test_another_worktrees_files_cannot_be_read_or_overwritten(trees):
    secret = f"secret-{secrets.token_hex(8)}"
    (trees.grace / "secret.txt").write_text(secret)
    original = (trees.grace / "mathutil.py").read_text()
    read = f"cat {trees.grace}/secret.txt"
    result = sandbox.run(trees.ada, f"{read}; echo 'def mean(v): return 0' > {trees.grace}/mathutil.py")
    assert secret not in result.output
    assert result.exit_code != 0
    assert (trees.grace / "mathutil.py").read_text() == original
    assert secret in host(read, cwd=trees.ada).stdout


def test_app_settings_and_root_only_files_are_unreadable(trees):
    settings_file = Path(settings.BASE_DIR) / "swarm_web" / "settings.py"
    targets = [settings_file] + [Path("/etc/shadow")] * Path("/etc/shadow").exists()
    for target in targets:
        control = host(f"cat {target}")
        assert control.returncode == 0 and control.stdout
        result = sandbox.run(trees.ada, f"cat {target}")
        assert result.exit_code != 0
        assert control.stdout.splitlines()[0] not in result.output


def test_git_update_ref_from_a_worktree_cannot_move_main(trees):
    (trees.ada / "change.txt").write_text("agent work\n")
    agent_head = worktrees.commit_all(trees.ada, "agent work")
    main_before = worktrees.git(trees.repo, "rev-parse", "main").strip()
    assert agent_head != main_before
    result = sandbox.run(trees.ada, "git update-ref refs/heads/main HEAD; git push -q . HEAD:main")
    assert result.exit_code != 0
    assert worktrees.git(trees.repo, "rev-parse", "main").strip() == main_before
    control = host("git update-ref refs/heads/main HEAD", cwd=trees.ada)
    assert control.returncode == 0
    assert worktrees.git(trees.repo, "rev-parse", "main").strip() == agent_head
    worktrees.git(trees.repo, "update-ref", "refs/heads/main", main_before)


def test_hooks_git_config_and_the_gitdir_pointer_are_read_only_inside(trees):
    hook = trees.repo / ".git" / "hooks" / "post-merge"
    config_before = (trees.repo / ".git" / "config").read_text()
    pointer_before = (trees.ada / ".git").read_text()
    result = sandbox.run(
        trees.ada,
        f"printf '#!/bin/sh\\necho pwned\\n' > {hook}; git config core.hooksPath /tmp; "
        "echo 'gitdir: /tmp/evil' > .git; rm -f .git; mv .git moved",
    )
    assert result.exit_code != 0
    assert not hook.exists()
    assert (trees.repo / ".git" / "config").read_text() == config_before
    assert (trees.ada / ".git").read_text() == pointer_before
    control = host(f"echo '#!/bin/sh' > {hook} && cp .git pointer-copy && echo 'gitdir: x' > pointer-copy", trees.ada)
    assert control.returncode == 0 and hook.exists()
    hook.unlink()
    (trees.ada / "pointer-copy").unlink()


def test_a_forged_gitdir_pointer_does_not_expose_the_directory_it_names(trees):
    private = Path(settings.DATA_DIR) / f"private-{secrets.token_hex(4)}"
    private.mkdir()
    (private / "HEAD").write_text("ref: refs/heads/main\n")
    (private / "token").write_text("private-token\n")
    pointer = trees.grace / ".git"
    original = pointer.read_text()
    pointer.write_text(f"gitdir: {private}\n")  # as if something on the host had been tricked into writing it
    try:
        result = sandbox.run(trees.grace, f"cat {private}/token")
    finally:
        pointer.write_text(original)
    assert "private-token" not in result.output
    assert host(f"cat {private}/token").stdout == "private-token\n"


# --- network and host services (test 17)


def test_tcp_to_a_listener_on_host_loopback_is_refused(trees):
    server = BannerServer()
    try:
        control = host(connect_command(sys.executable, server.address))
        assert f"connected {server.banner}" in control.stdout
        accepted = server.accepted
        result = sandbox.run(trees.ada, connect_command("python", server.address))
        assert result.exit_code != 0
        assert server.banner not in result.output
        time.sleep(0.2)
        assert server.accepted == accepted
    finally:
        server.close()


@pytest.mark.parametrize("where", ["data dir", "host /tmp", "abstract namespace"])
def test_unix_socket_listeners_on_the_host_are_unreachable(trees, where):
    name = f"sbx-{secrets.token_hex(4)}.sock"
    path = {"data dir": f"{settings.DATA_DIR}/{name}", "host /tmp": f"/tmp/{name}", "abstract namespace": f"@{name}"}
    server = BannerServer(path[where])
    try:
        control = host(connect_command(sys.executable, server.address))
        assert f"connected {server.banner}" in control.stdout
        result = sandbox.run(trees.ada, connect_command("python", server.address))
        assert result.exit_code != 0
        assert server.banner not in result.output
    finally:
        server.close()


@pytest.mark.skipif(not os.path.exists(PG_SOCKET), reason="no local PostgreSQL socket on this machine")
def test_the_postgresql_socket_is_unreachable(trees):
    probe = "import socket; s = socket.socket(socket.AF_UNIX); s.connect('" + PG_SOCKET + "'); print('connected')"
    control = host(f'{sys.executable} -c "{probe}"')
    assert control.stdout.strip() == "connected"
    result = sandbox.run(trees.ada, f'python -c "{probe}"')
    assert result.exit_code != 0
    assert "connected" not in result.output.splitlines()  # a printed line, not the traceback quoting the code


def test_the_workers_environment_secrets_are_not_visible_inside(trees, monkeypatch):
    secret = f"sk-canary-{secrets.token_hex(8)}"
    monkeypatch.setenv("SWARM_TEST_API_KEY", secret)
    assert secret in host("env").stdout
    result = sandbox.run(trees.ada, "env; cat /proc/*/environ")
    assert "PATH=" in result.output
    assert secret not in result.output
    assert "SWARM_TEST_API_KEY" not in result.output


def test_a_new_user_namespace_cannot_be_created_inside(trees):
    assert host("unshare -U true").returncode == 0
    result = sandbox.run(trees.ada, "unshare -U true")
    assert result.exit_code != 0


# --- resources and runaway processes (test 18)

FORKER = """import os, sys, time
# {marker}
wanted, hold, report = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
made = 0
for _ in range(wanted):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(hold)
        os._exit(0)
    made += 1
if report != "-":
    open(report, "w").write(str(made))
print("forked", made)
time.sleep(hold)
"""


def test_a_fork_bomb_is_capped_and_does_not_starve_another_sandbox(trees):
    marker = f"bomb-{secrets.token_hex(4)}"
    script = FORKER.format(marker=marker)
    report = trees.ada / "bomb.txt"
    report.unlink(missing_ok=True)
    results = {}
    bomb = threading.Thread(
        target=lambda: results.update(bomb=sandbox.run(trees.ada, f"python -c '{script}' 1000 4 bomb.txt", timeout=30))
    )
    bomb.start()
    deadline = time.monotonic() + 20
    while not report.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    # the bomb now holds every pid it could get; a second agent's command forks at the same moment
    neighbour = sandbox.run(trees.grace, f"python -c '{script}' 20 0.1 -", timeout=30)
    bomb.join(timeout=30)
    made = int(report.read_text())
    assert neighbour.exit_code == 0 and "forked 20" in neighbour.output
    assert results["bomb"].exit_code == 0
    assert made < sandbox.PIDS_MAX < 1000
    assert gone_within(marker, 5)
    control = host(f"{sys.executable} -c '{script}' {sandbox.PIDS_MAX + 50} 0.5 -")
    assert f"forked {sandbox.PIDS_MAX + 50}" in control.stdout
    print(f"fork bomb stopped at {made} children (pids.max {sandbox.PIDS_MAX}); neighbour forked 20 of 20")


def test_a_four_gib_allocation_fails_inside(trees):
    allocate = 'import mmap; m = mmap.mmap(-1, 4 << 30); m[-1] = 1; print("allocated")'
    control = host(f"{sys.executable} -c '{allocate}'")
    assert control.stdout.strip() == "allocated"
    result = sandbox.run(trees.ada, f"python -c '{allocate}'; python -c 'bytearray(4 << 30)'")
    assert "allocated" not in result.output.splitlines()  # a printed line, not the traceback quoting the code
    assert "Cannot allocate memory" in result.output and "MemoryError" in result.output


def test_a_file_is_cut_at_the_size_cap(trees):
    result = sandbox.run(trees.ada, "head -c 200000000 /dev/zero > big.bin")
    big = trees.ada / "big.bin"
    try:
        assert result.exit_code != 0
        assert big.stat().st_size <= sandbox.FILE_SIZE_MAX
    finally:
        big.unlink(missing_ok=True)


def test_runaway_output_is_cut_at_the_cap_quickly(trees):
    cap = 1 << 20
    marker = f"runaway-{secrets.token_hex(4)}"
    result = sandbox.run(trees.ada, f"yes {marker}", output_cap=cap, timeout=30)
    assert result.truncated and not result.timed_out
    assert cap <= len(result.output.encode()) <= cap + 200
    assert result.output.rstrip().endswith(f"[output cut at {cap} bytes]")
    assert result.seconds < 5
    assert gone_within(f"yes {marker}", 5)
    print(f"`yes` cut at {cap} bytes after {result.seconds:.2f} s")


def test_a_timeout_kills_a_long_sleep(trees):
    marker = f"{100 + secrets.randbelow(900)}.{secrets.randbelow(10**6):06d}"
    result = sandbox.run(trees.ada, f"sleep {marker}", timeout=1)
    assert result.timed_out and result.exit_code == 124
    assert result.seconds < 3
    assert "[killed after 1 s]" in result.output
    assert gone_within(f"sleep {marker}", 5)


def test_background_processes_that_escape_the_session_do_not_survive_the_command(trees):
    marker = f"1000.{secrets.randbelow(10**6):06d}"
    escape = (
        f"setsid sleep {marker}1 > /dev/null 2>&1 & nohup sleep {marker}2 > /dev/null 2>&1 & "
        f"(sh -c 'sleep {marker}3 > /dev/null 2>&1 &') ; echo started"
    )
    result = sandbox.run(trees.ada, escape, timeout=20)
    assert result.exit_code == 0 and "started" in result.output
    assert result.seconds < 5
    assert gone_within(f"sleep {marker}", 5)
    # and when the command is killed at its timeout instead of exiting
    result = sandbox.run(trees.ada, f"setsid sleep {marker}4 > /dev/null 2>&1 & sleep {marker}5", timeout=1)
    assert result.timed_out
    assert gone_within(f"sleep {marker}", 5)
    # control: on the host the same escape outlives its shell
    control = host(f"setsid sleep {marker}9 > /dev/null 2>&1 &")
    assert control.returncode == 0
    survivors = processes_with(f"sleep {marker}9")
    assert survivors
    for proc in survivors:
        proc.kill()


# --- the startup self-test (test 22)


def test_the_self_test_passes_here_and_names_the_limits():
    sandbox.availability.cache_clear()
    ok, message = sandbox.availability()
    assert ok, message
    assert "no network" in message and "limits:" in message
    if os.geteuid() == 0:
        assert f"uid {sandbox.SANDBOX_UID}" in message


def test_without_bubblewrap_commands_are_refused_not_run_unsandboxed(trees, monkeypatch):
    marker = trees.ada / f"ran-{secrets.token_hex(4)}"
    monkeypatch.setenv("PATH", "/nonexistent")
    sandbox.availability.cache_clear()
    try:
        ok, message = sandbox.availability()
        assert not ok and "bubblewrap" in message and "apt-get install bubblewrap" in message
        with pytest.raises(sandbox.SandboxUnavailable):
            sandbox.run(trees.ada, f"touch {marker}")
        assert not marker.exists()
    finally:
        monkeypatch.undo()
        sandbox.availability.cache_clear()
    assert sandbox.availability()[0]
