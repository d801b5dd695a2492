"""The sandbox's pure rules: which git metadata a worktree is shown, and where its mount plan makes directories.

The real bubblewrap runs are in tests/test_sandbox*.py; these check the decisions on files laid out by hand (no
git is run), including the forgeries an agent could write into its own worktree.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.sandbox.gitview import REF, git_view
from agents.sandbox.mounts import Mounts

SHA = "a" * 40
BASE = "b" * 40


def linked_worktree(tmp_path: Path, head: str = "ref: refs/heads/swarm/1/ada") -> Path:
    """The files `git worktree add` leaves: <common>/worktrees/ada/{HEAD,commondir,gitdir} and a .git pointer."""
    common = tmp_path / "repo" / ".git"
    gitdir = common / "worktrees" / "ada"
    worktree = tmp_path / "worktrees" / "ada"
    for path in (common / "objects", common / "refs" / "heads" / "swarm" / "1", gitdir, worktree):
        path.mkdir(parents=True)
    (common / "refs" / "heads" / "swarm" / "1" / "ada").write_text(SHA + "\n")
    (common / "refs" / "heads" / "main").write_text(BASE + "\n")
    (common / "logs" / "refs" / "heads" / "swarm" / "1").mkdir(parents=True)
    (common / "logs" / "refs" / "heads" / "swarm" / "1" / "ada").write_text(
        f"{'0' * 40} {BASE} Swarm <swarm@localhost> 1700000000 +0000\tbranch: Created from main\n"
    )
    (gitdir / "HEAD").write_text(head + "\n")
    (gitdir / "commondir").write_text("../..\n")
    (gitdir / "gitdir").write_text(str(worktree / ".git") + "\n")
    (worktree / ".git").write_text(f"gitdir: {gitdir}\n")
    return worktree


def test_a_worktree_the_host_made_sees_its_own_branch_and_where_it_started(tmp_path):
    view = git_view(linked_worktree(tmp_path))
    assert view is not None
    assert (view.ref, view.commit, view.base) == ("refs/heads/swarm/1/ada", SHA, BASE)
    assert view.common == tmp_path / "repo" / ".git"


def test_the_config_shown_inside_has_no_remote_hook_or_filter_of_the_host(tmp_path):
    worktree = linked_worktree(tmp_path)
    (tmp_path / "repo" / ".git" / "config").write_text('[remote "origin"]\n\turl = https://token@host/x\n')
    config = git_view(worktree).config()
    assert "remote" not in config and "token" not in config and "hooksPath" not in config


def test_a_pointer_the_agent_rewrote_to_another_repository_shows_no_git_at_all(tmp_path):
    worktree = linked_worktree(tmp_path)
    other = tmp_path / "other" / ".git" / "worktrees" / "grace"
    other.mkdir(parents=True)
    (other / "HEAD").write_text(f"{SHA}\n")
    (worktree / ".git").write_text(f"gitdir: {other}\n")  # no backlink: the host never made that worktree
    assert git_view(worktree) is None


def test_a_git_directory_planted_inside_the_worktree_shows_no_git_at_all(tmp_path):
    worktree = tmp_path / "wt"
    planted = worktree / "evil" / "worktrees" / "x"
    (worktree / "evil" / "objects").mkdir(parents=True)
    planted.mkdir(parents=True)
    (planted / "HEAD").write_text(f"{SHA}\n")
    (planted / "commondir").write_text("../..\n")
    (planted / "gitdir").write_text(str(worktree / ".git") + "\n")
    (worktree / ".git").write_text(f"gitdir: {planted}\n")
    assert git_view(worktree) is None


def test_a_symlinked_pointer_shows_no_git_at_all(tmp_path):
    worktree = linked_worktree(tmp_path)
    real = worktree.parent / "pointer"
    (worktree / ".git").rename(real)
    (worktree / ".git").symlink_to(real)
    assert git_view(worktree) is None


def test_a_head_that_is_not_a_branch_or_a_commit_shows_no_git_at_all(tmp_path):
    assert git_view(linked_worktree(tmp_path, head="ref: refs/remotes/origin/main")) is None
    assert git_view(linked_worktree(tmp_path / "b", head="../../../etc/passwd")) is None


@pytest.mark.parametrize("ref", ["refs/heads/main", "refs/heads/swarm/12/ada-2", "refs/heads/v1.0"])
def test_ordinary_branch_names_are_shown(ref):
    assert REF.match(ref)


@pytest.mark.parametrize(
    "ref", ["refs/heads/../../config", "refs/heads/a//b", "refs/heads/x.lock", "refs/heads/a/.hidden", "refs/tags/v1"]
)
def test_branch_names_that_could_escape_or_confuse_git_are_not(ref):
    assert not REF.match(ref)


def test_the_mount_plan_never_makes_a_directory_inside_a_host_bind():
    # bwrap would make it on the host, through the bind
    mounts = Mounts(data_fd=lambda raw: 3)
    mounts.bind("/srv/worktree", writable=True)
    mounts.dir("/srv/worktree/new/deep")
    mounts.data("/srv/worktree/sub/file", "x")
    dirs = [mounts.argv[i + 1] for i, a in enumerate(mounts.argv) if a == "--dir"]
    assert dirs == ["/srv"]


def test_the_mount_plan_makes_the_parents_a_tmpfs_needs():
    mounts = Mounts(data_fd=lambda raw: 3)
    mounts.tmpfs("/work/repo/.git", size=1 << 20)
    mounts.data("/work/repo/.git/refs/heads/x", "sha\n")
    dirs = [mounts.argv[i + 1] for i, a in enumerate(mounts.argv) if a == "--dir"]
    assert dirs == ["/work", "/work/repo", "/work/repo/.git/refs", "/work/repo/.git/refs/heads"]
