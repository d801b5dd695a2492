"""The exit code a pipeline gets from `swarm run --wait` / `swarm follow task`: the rule in swarm_cli.outcome."""

from __future__ import annotations

from swarm_cli.outcome import APPROVED, FAILED, REJECTED, decide


def _task(*statuses: str, launched: bool = True) -> dict:
    agents = [{"id": i, "status": s} for i, s in enumerate(statuses, start=1)]
    return {"agents": agents, "launched_at": "2026-01-01T00:00:00" if launched else None}


def _verdict(pk: int, agent: int, status: str) -> dict:
    return {"id": pk, "agent": {"id": agent}, "status": status, "created_at": f"2026-01-01T00:00:{pk:02d}"}


def test_any_approval_is_approved_even_beside_rejections():
    verdicts = [_verdict(1, 1, "rejected"), _verdict(2, 2, "approved")]
    assert decide(_task("running", "accepted"), verdicts) == APPROVED


def test_a_pending_verdict_or_a_working_agent_keeps_the_wait_going():
    assert decide(_task("awaiting_review"), [_verdict(1, 1, "pending")]) is None
    assert decide(_task("running"), []) is None
    assert decide(_task(launched=True), []) is None  # launched, agents on their way


def test_rejected_when_every_agents_latest_verdict_was_rejected():
    assert decide(_task("running"), [_verdict(1, 1, "rejected")]) == REJECTED
    # one agent's latest submission still counts for it: not every agent was rejected yet
    assert decide(_task("running", "running"), [_verdict(1, 1, "rejected")]) is None
    # a later verdict of the same agent decides for it
    assert decide(_task("running"), [_verdict(1, 1, "rejected"), _verdict(2, 1, "superseded")]) is None


def test_failed_when_every_agent_ended_without_approved_work_or_nothing_was_launched():
    assert decide(_task("error", "stopped"), []) == FAILED
    assert decide(_task(launched=False), []) == FAILED


def test_a_planners_worker_approved_into_its_branch_is_not_the_task_approved():
    task = _task("paused", "accepted")
    task["agents"][1]["spawned_by"] = 1  # a worker Pat spawned: its work lands in Pat's branch
    assert decide(task, [_verdict(1, 2, "approved")]) is None
    assert decide(task, [_verdict(1, 2, "approved"), _verdict(2, 1, "approved")]) == APPROVED
