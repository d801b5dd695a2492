"""Worktrees and branches never lose work: clean-up is explicit, logged, and keeps unmerged branches."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agents import services, worktrees
from agents.models import Agent
from judges import services as judging
from judges.models import Verdict
from tests import factories
from tests.factories import run_until_idle


def _branches(agent: Agent) -> list[str]:
    return worktrees.git(agent.task.repo.path, "branch", "--format=%(refname:short)").split()


def test_a_running_agents_worktree_cannot_be_cleaned_up(demo):
    _, task = demo
    ada = services.launch_task(task)[0]
    with pytest.raises(services.ServiceError, match="stop it"):
        services.clean_up(ada, "alice")
    assert Path(ada.worktree).is_dir()


def test_cleaning_up_a_stopped_agent_keeps_its_branch_and_its_uncommitted_work(demo):
    _, task = demo
    ada = services.launch_task(task)[0]
    factories.run_step(ada.pk)
    Path(ada.worktree, "notes.txt").write_text("half-done idea\n")  # never committed by anyone
    services.stop(ada, "alice")
    ada.refresh_from_db()
    summary = services.clean_up(ada, "alice")
    assert "branch swarm/" in summary and "kept" in summary
    assert not Path(ada.worktree).exists()
    assert ada.branch in _branches(ada)
    assert worktrees.git(task.repo.path, "show", f"{ada.branch}:notes.txt") == "half-done idea\n"
    ada.refresh_from_db()
    assert ada.worktree == "" and ada.events.filter(kind="cleanup").exists()


def test_an_unmerged_unexported_branch_is_not_deleted(demo):
    _, task = demo
    ada = services.launch_task(task)[0]
    run_until_idle([ada])
    services.stop(Agent.objects.get(pk=ada.pk), "alice")
    ada.refresh_from_db()
    with pytest.raises(services.ServiceError, match="neither merged nor exported"):
        services.clean_up(ada, "alice", delete_branch=True)
    assert ada.branch in _branches(ada)
    assert Path(ada.worktree).is_dir()


def test_after_a_merge_the_branch_can_be_deleted_and_the_clean_up_is_logged(demo, bob):
    _, task = demo
    ada = services.launch_task(task)[0]
    run_until_idle([ada])
    judging.review_verdict(Verdict.objects.get(agent=ada), bob, "approve")
    ada.refresh_from_db()
    summary = services.clean_up(ada, "bob", delete_branch=True)
    assert "deleted" in summary
    assert ada.branch not in _branches(ada)
    event = ada.events.get(kind="cleanup")
    assert event.payload["by"] == "bob"


THREADS, ROUNDS = 16, 10


def test_checkouts_made_and_removed_at_once_in_one_repository_all_succeed(demo, settings, tmp_path):
    """Verifications run side by side (a Celery worker's threads, several workers on one host): git reads every other
    worktree's entry while it adds one, and an entry half written by a concurrent add or remove failed it ("failed to
    read .git/worktrees/<name>/commondir", seen in CI). Each change to a repository's worktrees waits its turn."""
    settings.DATA_DIR = tmp_path
    repo = demo[1].repo
    commit = worktrees.base_commit(repo)
    failures: list[Exception] = []

    def verify_like(name: str) -> None:
        try:
            for _ in range(ROUNDS):
                with worktrees.detached(repo.path, commit, name) as checkout:
                    assert (checkout / "mathutil.py").is_file()
        except Exception as exc:  # noqa: BLE001 - collected, asserted below
            failures.append(exc)

    threads = [threading.Thread(target=verify_like, args=(f"judge-{i}",)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    assert worktrees.git(repo.path, "worktree", "list").count("judge-") == 0
