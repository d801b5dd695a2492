"""Host git runs only where it was asked to: never in the process's own directory or an enclosing repository."""

from __future__ import annotations

import os
import subprocess

import pytest

from agents import worktrees


def test_host_git_never_commits_in_an_enclosing_repository(tmp_path, monkeypatch):
    """An agent with no worktree (or one whose directory is gone) must not make the host commit in the
    server's own checkout: `git -C ""` means the current directory, and git walks up from a plain directory."""
    outer = tmp_path / "checkout"
    outer.mkdir()
    plain_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (
        ["init", "-q", "-b", "main"],
        ["-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "--allow-empty", "-m", "first"],
    ):
        subprocess.run(["git", "-C", str(outer), *args], check=True, env=plain_env)
    (outer / "settings_local.py").write_text("SECRET = 'do not commit me'\n")
    missing = outer / "var" / "worktrees" / "task-1" / "ada"
    missing.mkdir(parents=True)

    def commits() -> int:
        out = subprocess.run(
            ["git", "-C", str(outer), "rev-list", "--count", "HEAD"], capture_output=True, text=True, env=plain_env
        )
        return int(out.stdout.strip())

    # positive control: plain git from a directory inside the checkout finds the checkout and commits there
    control = tmp_path / "control"
    subprocess.run(["cp", "-a", str(outer), str(control)], check=True)
    subprocess.run(["git", "-C", str(control / "var/worktrees/task-1/ada"), "add", "-A"], check=True, env=plain_env)
    staged = subprocess.run(
        ["git", "-C", str(control), "diff", "--cached", "--name-only"], capture_output=True, text=True, env=plain_env
    )
    assert "settings_local.py" in staged.stdout

    monkeypatch.chdir(outer)
    with pytest.raises(worktrees.GitError, match="absolute"):
        worktrees.commit_all("", "swarm: work saved")
    with pytest.raises(worktrees.GitError):
        worktrees.commit_all(missing, "swarm: work saved")
    assert commits() == 1
    staged = subprocess.run(
        ["git", "-C", str(outer), "diff", "--cached", "--name-only"], capture_output=True, text=True, env=plain_env
    )
    assert staged.stdout == ""
