"""A planner's cycles: its submission, verified against the task's command, fails because a person stopped one of its
workers; the judges recommend rejecting it, so it continues in a new cycle that starts from a fresh context with its
handoff and the verdict's reasons, spawns a worker for what is left, and its next submission merges."""

from __future__ import annotations

from agents import conversations, demo_planner, services
from agents.models import Agent
from judges.models import Review, Verdict
from tests import factories


def test_a_rejected_planner_starts_a_fresh_cycle_from_its_handoff_and_finishes(demo, settings):
    settings.SWARM_PLANNER_CYCLES = 2
    task = demo_planner.seed(demo[0])
    (pat,) = services.launch_task(task)
    for _ in range(10):  # until Pat waits for its workers
        factories.run_step(pat.pk)
        pat.refresh_from_db()
        if pat.waiting_on_workers:
            break
    linus = Agent.objects.get(task=task, name="Linus")
    services.stop(linus, "alice")  # one defect is left undone
    for _ in range(80):
        running = list(task.agents.filter(status=Agent.Status.RUNNING).values_list("pk", flat=True))
        if not running:
            break
        for pk in running:
            factories.run_step(pk)

    pat.refresh_from_db()
    first = Verdict.objects.filter(agent=pat).order_by("id").first()
    assert first.status == Verdict.Status.REJECTED and first.recommendation == "reject"
    audit = Review.objects.get(verdict=first)
    assert audit.reviewer is None and audit.outcome.startswith("cycle: the panel recommended reject; cycle 2 starts")
    assert pat.cycle == 2
    # the new cycle began from a fresh context: the brief with its handoff is the first thing it read
    first_read = conversations.load(pat.pk)[0]["content"]
    assert first_read.startswith("[Message from Swarm] Cycle 2 of at most 2: you start from a fresh context.")
    assert "Left: Linus not merged yet." in first_read and "failed" in first_read
    # it spawned a worker for what was left, under a new name (its file's name and the cycle), and its second
    # submission merged into main
    assert Agent.objects.get(task=task, name="Linus2").status == Agent.Status.ACCEPTED
    assert pat.status == Agent.Status.ACCEPTED, pat.status_reason
    assert Verdict.objects.filter(agent=pat, status=Verdict.Status.APPROVED).count() == 1
