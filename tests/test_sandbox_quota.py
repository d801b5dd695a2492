"""The worktree's quota (RELIABILITY 18): a command that fills its worktree past SWARM_WORKTREE_MAX_BYTES or
SWARM_WORKTREE_MAX_FILES is killed within about a second, with a message that says why, and a command under the
quota runs as usual. RLIMIT_FSIZE caps each file; the quota caps their sum and their number."""

from __future__ import annotations

import pytest

from agents import sandbox
from agents.sandbox.execute import usage
from tests.sandboxes import demo_worktrees


@pytest.fixture
def quota_tree():
    """One agent's fresh worktree of the demo repository."""
    return demo_worktrees("quota", "Ada").ada


def test_many_small_files_past_the_file_quota_kill_the_command(quota_tree, settings):
    settings.SWARM_WORKTREE_MAX_FILES = 2_000
    # 10,000 small files in batches of 500, slowly enough that the watch sees the count pass the quota while the
    # command runs
    result = sandbox.run(
        quota_tree,
        "mkdir -p junk && for b in $(seq 1 20); do for i in $(seq 1 500); do echo x > junk/$b-$i; done; sleep 0.2; "
        "done; echo finished",
        timeout=60,
    )
    assert "finished" not in result.output
    assert result.exit_code == 137
    assert "SWARM_WORKTREE_MAX_FILES" in result.output
    _, files = usage(quota_tree)
    assert files < 10_000


def test_bytes_past_the_size_quota_kill_the_command_though_each_file_is_under_the_file_cap(quota_tree, settings):
    settings.SWARM_WORKTREE_MAX_BYTES = 60 << 20
    # ten 20 MB files, each well under RLIMIT_FSIZE (100 MiB), paced so the watch runs between them
    result = sandbox.run(
        quota_tree,
        "for i in 0 1 2 3 4 5 6 7 8 9; do head -c 20000000 /dev/zero > part$i.bin; sleep 0.3; done; echo finished",
        timeout=60,
    )
    assert "finished" not in result.output
    assert result.exit_code == 137
    assert "SWARM_WORKTREE_MAX_BYTES" in result.output
    size, _ = usage(quota_tree)
    assert size < 200_000_000


def test_a_command_quicker_than_the_watch_is_caught_at_its_end(quota_tree, settings):
    settings.SWARM_WORKTREE_MAX_FILES = 2_000
    result = sandbox.run(quota_tree, "mkdir -p junk && cd junk && touch $(seq 1 3000); echo finished")
    assert result.exit_code == 137
    assert "SWARM_WORKTREE_MAX_FILES" in result.output


def test_a_command_under_the_quota_runs_as_usual(quota_tree, settings):
    """Control for the two above: the same kind of command, under the quota, is not touched."""
    settings.SWARM_WORKTREE_MAX_FILES = 2_000
    settings.SWARM_WORKTREE_MAX_BYTES = 60 << 20
    result = sandbox.run(quota_tree, "mkdir -p junk && for i in $(seq 1 500); do echo x > junk/$i; done; echo finished")
    assert result.exit_code == 0 and "finished" in result.output
