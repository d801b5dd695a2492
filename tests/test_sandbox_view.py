"""The sandbox shows only what a command needs (issue 7): an allowlist of mounts, and a git directory with the
agent's own branch and nothing of the host repository's configuration or of other agents' branches.

Every denial has its positive control: the same read, run on the host by the same worker, finds the thing.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings

from agents import sandbox, worktrees
from agents.sandbox import mounts as sandbox_mounts
from tests.sandboxes import demo_worktrees, host

TOKEN = f"ghp_{secrets.token_hex(12)}"


@pytest.fixture(scope="module")
def committed_trees():
    """A demo repository whose config holds a remote URL with a token, and two agents' worktrees with a commit
    each; Grace's branch is also in packed-refs."""
    trees = demo_worktrees("view", "Ada", "Grace")
    repo, ada, grace = trees.repo, trees.ada, trees.grace
    worktrees.git(repo, "remote", "add", "origin", f"https://swarm-bot:{TOKEN}@git.example.com/team/mathutil.git")
    (grace / "grace_notes.txt").write_text("grace's approach\n")
    grace_head = worktrees.commit_all(grace, "grace: a different approach")
    worktrees.git(repo, "pack-refs", "--all")
    (ada / "ada_notes.txt").write_text("ada's approach\n")
    ada_head = worktrees.commit_all(ada, "ada: first attempt")
    trees.ada_head, trees.grace_head = ada_head, grace_head
    yield trees
    shutil.rmtree(repo, ignore_errors=True)


@pytest.fixture(params=["/opt", "/srv", "/mnt", "/var", "/home", "/root"])
def planted(request):
    """Another team's repository (or a user's file) in a host directory: a file with a secret in it."""
    base = Path(request.param)
    if not base.is_dir():
        pytest.skip(f"{base} does not exist on this machine")
    where = Path(tempfile.mkdtemp(prefix="other-team-", dir=base))
    secret = f"secret-{secrets.token_hex(8)}"
    (where / "credentials.txt").write_text(secret + "\n")
    where.chmod(0o755)
    (where / "credentials.txt").chmod(0o644)  # readable by anyone on the host, so only the mount can hide it
    yield SimpleNamespace(base=base, where=where, secret=secret)
    shutil.rmtree(where, ignore_errors=True)


# --- host directories


def test_other_teams_directories_and_home_directories_are_not_there(committed_trees, planted):
    read, listing = f"cat {planted.where}/credentials.txt", f"ls -a {planted.base}"
    assert host(read).stdout == planted.secret + "\n"
    assert planted.where.name in host(listing).stdout.split()
    result = sandbox.run(committed_trees.ada, read)
    assert result.exit_code != 0 and planted.secret not in result.output
    assert "No such file or directory" in result.output
    assert planted.where.name not in sandbox.run(committed_trees.ada, listing).output


def test_the_hosts_network_interfaces_are_not_listed(committed_trees):
    control = host("ls /sys/class/net; cat /proc/net/dev")
    interfaces = [name for name in os.listdir("/sys/class/net") if name != "lo"]
    assert interfaces and all(name in control.stdout for name in interfaces)
    result = sandbox.run(committed_trees.ada, "ls /sys/class/net; ls /sys; cat /proc/net/dev")
    assert "lo:" in result.output  # the sandbox's own network namespace: loopback only
    for name in interfaces:
        assert f"{name}:" not in result.output and f"\n{name}\n" not in result.output
    assert "cannot access '/sys/class/net'" in result.output and "cannot access '/sys'" in result.output


def test_etc_holds_only_what_commands_need(committed_trees):
    secrets_in_etc = [p for p in ("/etc/shadow", "/etc/gshadow", "/etc/gitconfig", "/etc/pip.conf") if Path(p).exists()]
    assert "/etc/shadow" in secrets_in_etc  # the control: the host has them
    result = sandbox.run(
        committed_trees.ada, "ls /etc; for f in " + " ".join(secrets_in_etc) + "; do test -e $f && echo $f; done"
    )
    listed = result.output.split()
    assert set(secrets_in_etc).isdisjoint(listed)
    assert "passwd" in listed and "ld.so.cache" in listed
    assert len(listed) < len(os.listdir("/etc")) / 3
    users = sandbox.run(committed_trees.ada, "cat /etc/passwd; id -un").output
    assert "postgres" in Path("/etc/passwd").read_text() and "postgres" not in users  # host accounts stay private
    assert users.split()[-1] == ("nobody" if os.geteuid() == 0 else "sandbox")


def test_the_worker_apps_code_and_data_directory_are_not_there(committed_trees):
    planted = Path(settings.DATA_DIR) / f"planted-{secrets.token_hex(4)}.txt"
    planted.write_text("app data\n")
    try:
        read = f"ls -a {settings.BASE_DIR} 2>/dev/null; ls -a {settings.DATA_DIR} 2>/dev/null"
        control = host(read).stdout.split()
        assert "manage.py" in control and planted.name in control
        shown = sandbox.run(committed_trees.ada, read).output.split()
    finally:
        planted.unlink()
    # only the directories on the way to the worktree, the repository's git directory and the toolchain: a
    # virtualenv inside the checkout (a fresh clone's .venv) is bound read-only, the code beside it is not
    venv = Path(sys.prefix).resolve()
    base = Path(settings.BASE_DIR).resolve()
    toolchain = {venv.relative_to(base).parts[0]} if venv.is_relative_to(base) else set()
    assert "manage.py" not in shown
    assert set(shown) <= {".", "..", "repos", "worktrees", *toolchain}, shown


# --- what commands need still works


def test_python_git_and_the_shell_tools_work_inside(committed_trees):
    result = sandbox.run(
        committed_trees.ada,
        "python3 -c 'import sqlite3, ssl, json; print(\"py-ok\")'; python -m pytest --version; "
        "echo a,b | awk -F, '{print $2}'; git --version; ls /tmp && echo tmp-ok; whoami",
    )
    assert result.exit_code == 0, result.output
    for expected in ("py-ok", "pytest ", "\nb\n", "git version", "tmp-ok"):
        assert expected in result.output


def test_git_status_diff_and_log_of_the_own_branch_work(committed_trees):
    (committed_trees.ada / "mathutil.py").write_text((committed_trees.ada / "mathutil.py").read_text() + "\n# edited\n")
    try:
        result = sandbox.run(
            committed_trees.ada,
            "git status; git diff; git log --format='%H %s'; git diff --stat base; git rev-parse HEAD",
        )
    finally:
        worktrees.git(committed_trees.ada, "checkout", "--", "mathutil.py")
    assert result.exit_code == 0, result.output
    assert f"On branch {committed_trees.ada_branch}" in result.output
    assert "modified:   mathutil.py" in result.output and "+# edited" in result.output
    assert f"{committed_trees.ada_head} ada: first attempt" in result.output
    assert f"{committed_trees.base} mathutil: first version" in result.output
    assert "ada_notes.txt | 1 +" in result.output  # `base`: the commit the branch was made from
    assert result.output.strip().endswith(committed_trees.ada_head)


def test_git_works_in_a_detached_verification_checkout(committed_trees):
    with worktrees.detached(committed_trees.repo, committed_trees.ada_head, "view-check") as checkout:
        result = sandbox.run(checkout, "git status --short --branch; git log --oneline -1; python -m pytest -q")
    assert "HEAD (no branch)" in result.output, result.output
    assert f"{committed_trees.ada_head[:7]} ada: first attempt" in result.output
    assert "1 failed, 4 passed" in result.output


def test_git_log_works_when_the_repository_borrows_objects_from_another(committed_trees):
    clone = committed_trees.repo.parent / f"{committed_trees.repo.name}-shared"
    host(f"git clone -q --shared {committed_trees.repo} {clone}")
    try:
        assert not any((clone / ".git" / "objects").glob("??/*"))  # every object is in the other repository
        worktree = clone.parent / f"{clone.name}-wt"
        worktrees.git(clone, "worktree", "add", "-q", "-b", "shared-work", str(worktree))
        result = sandbox.run(worktree, "git log --oneline; git status --short --branch")
        assert result.exit_code == 0, result.output
        assert (
            clone / ".git" / "objects" / "info" / "alternates"
        ).read_text().strip() == f"{committed_trees.repo}/.git/objects"
        assert "mathutil: first version" in result.output and "## shared-work" in result.output
    finally:
        shutil.rmtree(clone, ignore_errors=True)
        shutil.rmtree(clone.parent / f"{clone.name}-wt", ignore_errors=True)


# --- the host repository's git metadata


def test_the_host_repositorys_config_and_its_token_are_not_visible(committed_trees):
    config = committed_trees.repo / ".git" / "config"
    control = host(f"cat {config}; git config --get remote.origin.url", cwd=committed_trees.ada)
    assert control.stdout.count(TOKEN) == 2
    result = sandbox.run(
        committed_trees.ada,
        f"cat {config}; git config -l; git remote -v; grep -r {TOKEN[:12]} {committed_trees.repo}/.git; true",
    )
    assert result.exit_code == 0
    assert TOKEN[:12] not in result.output
    assert "repositoryformatversion = 0" in result.output  # the config the sandbox gets: written for it


def test_other_agents_branches_are_not_visible(committed_trees):
    grace = committed_trees.grace_branch
    gitdir = committed_trees.repo / ".git"
    commands = (
        "git branch -a; git for-each-ref; git show-ref; git log --all --oneline; git reflog; "
        f"cat {gitdir}/packed-refs {gitdir}/worktrees/grace/HEAD {gitdir}/logs/HEAD; ls -R {gitdir}; true"
    )
    control = host(commands, cwd=committed_trees.ada)
    assert grace in control.stdout and "grace: a different approach" in control.stdout
    assert "refs/heads/main" in control.stdout
    result = sandbox.run(committed_trees.ada, "{ " + commands + "; } 2>/dev/null")
    assert "grace" not in result.output and "refs/heads/main" not in result.output
    assert committed_trees.ada_branch in result.output  # its own branch is there
    log = f"git log --oneline {grace}"
    assert "grace: a different approach" in host(log, cwd=committed_trees.ada).stdout
    result = sandbox.run(committed_trees.ada, log)
    assert result.exit_code != 0 and "unknown revision" in result.output
    refs = sandbox.run(committed_trees.ada, "git for-each-ref --format='%(refname)'").output.split()
    assert refs == [f"refs/heads/{committed_trees.ada_branch}", "refs/tags/base"]


def test_the_gitdir_and_its_refs_cannot_be_written_inside(committed_trees):
    before = worktrees.git(committed_trees.repo, "for-each-ref").strip()
    result = sandbox.run(
        committed_trees.ada,
        "git branch sneaky; git tag sneaky; git update-ref refs/heads/main HEAD; git commit -qam x --allow-empty; "
        "git config user.name x; echo x > $(git rev-parse --git-common-dir)/config",
    )
    assert result.exit_code != 0
    assert "Read-only file system" in result.output
    assert worktrees.git(committed_trees.repo, "for-each-ref").strip() == before
    control = host("git branch sneaky", cwd=committed_trees.ada)
    assert control.returncode == 0
    worktrees.git(committed_trees.repo, "branch", "-D", "sneaky")


# --- the startup self-test


def test_the_self_test_refuses_a_sandbox_that_shows_a_host_directory(monkeypatch):
    shown = next(d for d in ("/opt", "/srv", "/mnt", "/home") if os.path.isdir(d) and os.listdir(d))
    monkeypatch.setattr(sandbox_mounts, "SYSTEM_DIRS", (*sandbox_mounts.SYSTEM_DIRS, shown))
    sandbox.availability.cache_clear()
    try:
        ok, message = sandbox.availability()
        assert not ok
        assert "outside the allowlist were visible" in message and shown in message
    finally:
        monkeypatch.undo()
        sandbox.availability.cache_clear()
    ok, message = sandbox.availability()
    assert ok, message
    assert "nothing else of the host's files" in message
