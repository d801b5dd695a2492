"""Parallel work that lands: two agents change the same repository; after the first merges, the second is brought
up to date with the target. A conflict goes back to the agent with the hunks, it resolves it, is verified again and
merges; a clean result is verified again, and an approval given before carries over. Real git, the real sandbox, the
agents on the local OpenAI-protocol server."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import conversations, guards, sandbox, services, worktrees
from agents.models import Agent, Event
from judges import services as judging
from judges.models import Review, Verdict
from tests import factories
from tests.openai_server import reply
from tests.real_models import task_on

OLD = "return sum(values) / (len(values) - 1)"
ADA = "return sum(values) / len(values)"
GRACE = "return float(sum(values)) / len(values)"


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("SWARM_TEST_KEY", "test-key-landing")


def _pair(demo, server) -> tuple[Agent, Agent]:
    task = task_on(
        demo, server, roster=[{"name": "Ada", "profile": "test-openai"}, {"name": "Grace", "profile": "test-openai"}]
    )
    agents = {a.name: a for a in services.launch_task(task)}
    return agents["Ada"], agents["Grace"]


def _edit_and_submit(server, agent: Agent, old: str, new: str, path: str = "mathutil.py") -> Verdict:
    server.script(
        reply("Reading first.", ("read_file", {"path": path})),
        reply("Fixing it.", ("edit_file", {"path": path, "old": old, "new": new})),
        reply("Checking.", ("run_command", {"command": "python -m pytest -q"})),
        reply("Done.", ("submit", {"summary": f"changed {path}"})),
    )
    factories.run_until_idle([agent])
    agent.refresh_from_db()
    assert agent.status == Agent.Status.AWAITING_REVIEW, agent.status_reason
    return Verdict.objects.get(agent=agent, status=Verdict.Status.PENDING)


def _main(agent: Agent, path: str = "mathutil.py") -> str:
    return worktrees.git(agent.task.repo.path, "show", f"main:{path}")


def _main_passes_its_tests(agent: Agent) -> bool:
    repo = agent.task.repo.path
    with worktrees.detached(repo, worktrees.git(repo, "rev-parse", "main").strip(), "main-check") as checkout:
        return sandbox.run(checkout, "python -m pytest -q").exit_code == 0


def test_two_agents_edit_the_same_function_the_second_resolves_the_conflict_and_both_land(demo, server, bob):
    ada, grace = _pair(demo, server)
    first, second = _edit_and_submit(server, ada, OLD, ADA), _edit_and_submit(server, grace, OLD, GRACE)
    judging.review_verdict(first, bob, "approve")
    assert ADA in _main(ada)

    # the merge brought Grace's pending work up to date: it conflicts, so she is back at work with the hunks
    grace.refresh_from_db()
    second.refresh_from_db()
    assert second.status == Verdict.Status.SUPERSEDED
    assert grace.status == Agent.Status.RUNNING and "conflicts with main" in grace.status_reason
    told = [m for m in grace.messages.all() if "conflicts with main" in m.text]
    assert len(told) == 1
    assert "mathutil.py" in told[0].text and "<<<<<<<" in told[0].text and ADA in told[0].text and GRACE in told[0].text
    in_worktree = Path(grace.worktree, "mathutil.py").read_text()
    assert "<<<<<<<" in in_worktree and ">>>>>>>" in in_worktree
    assert Event.objects.filter(agent=grace, kind="brought_up_to_date").count() == 1

    # submitting with the markers still there is refused; resolving them and submitting lands
    resolved = in_worktree.split("<<<<<<<")[0] + f"    {GRACE}\n" + in_worktree.split(">>>>>>>")[1].split("\n", 1)[1]
    server.script(
        reply("Submitting as is.", ("submit", {"summary": "resolved"})),
        reply("Resolving.", ("write_file", {"path": "mathutil.py", "content": resolved})),
        reply("Checking.", ("run_command", {"command": "python -m pytest -q"})),
        reply("Done.", ("submit", {"summary": "resolved the conflict with main"})),
    )
    factories.run_until_idle([grace])
    refusal = [
        m["content"] for m in conversations.load(grace.pk) if m["role"] == "tool" and "conflict markers" in m["content"]
    ]
    assert refusal and refusal[0].startswith("REFUSED: mathutil.py still hold(s) git conflict markers")
    third = Verdict.objects.get(agent=grace, status=Verdict.Status.PENDING)
    assert third.verification_passed and "<<<<<<<" not in third.diff
    judging.review_verdict(third, bob, "approve")
    grace.refresh_from_db()
    assert grace.status == Agent.Status.ACCEPTED
    assert GRACE in _main(grace) and "<<<<<<<" not in _main(grace)
    assert _main_passes_its_tests(grace)


def test_a_clean_result_is_verified_again_and_an_earlier_approval_carries_over(demo, server, bob):
    ada, grace = _pair(demo, server)  # Ada does nothing here
    verdict = _edit_and_submit(server, grace, OLD, GRACE)
    # a person changes main meanwhile (another file): Grace's verdict was verified on the old main
    repo = Path(ada.task.repo.path)
    (repo / "README.md").write_text("# mathutil\n\nChanged on main.\n")
    worktrees.commit_all(str(repo), "a change on main")
    with pytest.raises(services.ServiceError, match="brought up to date with it and is being verified again"):
        judging.review_verdict(verdict, bob, "approve")
    verdict.refresh_from_db()
    grace.refresh_from_db()
    assert verdict.status == Verdict.Status.SUPERSEDED
    again = Verdict.objects.filter(agent=grace).exclude(pk=verdict.pk).get()
    assert again.verification_passed and again.commit_sha != verdict.commit_sha
    # verified again on top of the new main, and merged with bob's approval, audited as his
    assert again.status == Verdict.Status.APPROVED and again.decided_by == bob
    assert "before it was brought up to date" in Review.objects.get(verdict=again).comment
    assert grace.status == Agent.Status.ACCEPTED
    assert "Changed on main." in _main(grace, "README.md") and GRACE in _main(grace)
    assert _main_passes_its_tests(grace)


def test_conflict_markers_are_found_only_in_files_changed_since_the_base(tmp_path):
    repo = factories.make_repo(tmp_path / "r")
    base = worktrees.git(repo, "rev-parse", "HEAD").strip()
    (repo / "docs.md").write_text("How git shows a conflict:\n<<<<<<< ours\n=======\n>>>>>>> theirs\n")
    worktrees.commit_all(str(repo), "docs about conflicts")
    later = worktrees.git(repo, "rev-parse", "HEAD").strip()
    assert guards.conflict_markers(str(repo), base) == ["docs.md"]
    assert guards.conflict_markers(str(repo), later) == []  # unchanged since: not this submission's doing
    (repo / "ok.py").write_text("x = '<<<<<<< not at a line start'\n")
    assert guards.conflict_markers(str(repo), later) == []
