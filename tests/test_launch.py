from __future__ import annotations

from pathlib import Path

from agents import services
from agents.models import Agent
from judges.models import Verdict
from tests.factories import run_until_idle, task_like


def test_launch_starts_eight_named_agents_each_in_its_own_worktree(alice_client, demo):
    _, task = demo
    response = alice_client.post(f"/tasks/{task.pk}/launch/")
    assert response.status_code == 302
    agents = list(Agent.objects.filter(task=task))
    assert len(agents) == 8
    assert len({a.name for a in agents}) == 8
    assert len({a.worktree for a in agents}) == 8
    for agent in agents:
        assert agent.status == Agent.Status.RUNNING
        assert agent.branch == f"swarm/{task.pk}/{agent.name.lower()}"
        assert (Path(agent.worktree) / "mathutil.py").is_file()


def test_a_task_launches_once(alice_client, demo):
    _, task = demo
    alice_client.post(f"/tasks/{task.pk}/launch/")
    try:
        services.launch_task(task)
    except services.ServiceError as exc:
        assert exc.status == 409
    else:
        raise AssertionError("second launch was accepted")
    assert Agent.objects.filter(task=task).count() == 8


def test_submitting_agents_wait_for_verification_with_evidence(demo):
    _, task = demo
    # a diligent and a lazy agent of the demo (the whole swarm of 8 runs in the browser and scale-out tests)
    agents = services.launch_task(task_like(task, [("Ada", "sim-diligent"), ("Linus", "sim-lazy")]))
    run_until_idle(agents)
    ada, linus = (Agent.objects.get(pk=a.pk) for a in agents)  # Linus, lazy, submits without changing anything
    assert ada.status == linus.status == Agent.Status.AWAITING_REVIEW
    good = Verdict.objects.get(agent=ada)
    assert good.recommendation == "approve"
    assert good.evidence["verify"]["exit_code"] == 0
    assert "passed" in good.evidence["verify"]["output"]
    bad = Verdict.objects.get(agent=linus)
    assert bad.recommendation == "reject"
    assert bad.evidence["verify"]["exit_code"] != 0
    assert "test_mean" in bad.evidence["verify"]["output"]


def test_quitter_is_nudged_and_finishes(demo):
    _, task = demo
    agents = services.launch_task(task_like(task, [("Alan", "sim-quitter")]))
    run_until_idle(agents)
    alan = Agent.objects.get(pk=agents[0].pk)
    assert alan.nudges == 1
    assert alan.events.filter(kind="nudge").exists()
    assert alan.status == Agent.Status.AWAITING_REVIEW
