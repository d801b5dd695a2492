"""The sandbox every agent command runs in (RELIABILITY tests 16, 21c, 22): the positive path, the filesystem, and
the start-up self-test. The network is tests/test_sandbox_network.py's (17), resources tests/test_sandbox_limits.py's
(18), what the sandbox shows tests/test_sandbox_view.py's.

Each denial comes with its positive control: the same action, run on the host by the same worker, succeeds.
So a denial can only pass because the sandbox stopped it, not because the action was broken to begin with.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from django.conf import settings

from agents import sandbox, services, worktrees
from agents.models import Agent
from tests.sandboxes import host

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
