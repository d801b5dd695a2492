"""A planner's cycles: when the judges recommend rejecting a planner's submission, they decide it continues, in a new
cycle that starts from a fresh context (its conversation cleared) with its written handoff and the verdict's reasons
instead of the growing transcript. Its branch keeps everything so far. After SWARM_PLANNER_CYCLES cycles, or on any
other recommendation, a person decides as for any submission."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agents import services
from agents.models import Agent, ConversationEntry
from judges.models import Review, Verdict

CYCLE = "cycle: "  # how the audit row of a verdict that started a new cycle starts


def continue_in_new_cycle(verdict: Verdict) -> bool:
    """Start the planner's next cycle on a pending verdict the panel recommends rejecting; True if it did."""
    agent = verdict.agent
    if agent.role != "planner" or verdict.recommendation != Verdict.Recommendation.REJECT:
        return False
    if agent.cycle >= settings.SWARM_PLANNER_CYCLES:
        return False  # the last cycle's verdict waits for a person
    with transaction.atomic():
        won = Verdict.objects.filter(pk=verdict.pk, status=Verdict.Status.PENDING).update(
            status=Verdict.Status.REJECTED, decided_at=timezone.now()
        )
        if not won:
            return False
        following = agent.cycle + 1
        Review.objects.create(
            verdict=verdict,
            decision="reject",
            commit_sha=verdict.commit_sha,
            outcome=f"{CYCLE}the panel recommended reject; cycle {following} starts from a fresh context",
        )
        ConversationEntry.objects.filter(agent_id=agent.pk).delete()
        services.set_status(
            agent.pk,
            Agent.Status.RUNNING,
            f"cycle {following}: the judges sent it back; it starts again from its handoff",
            lease_expires_at=None,
            cycle=F("cycle") + 1,
            files_read=[],
            recent_calls=[],
            active_skill={},  # its instructions went with the context
        )
        services.inject_message(agent, _brief(agent, verdict, following))
    return True


def _brief(agent: Agent, verdict: Verdict, cycle: int) -> str:
    reasons = "\n".join(f"- {r}" for r in verdict.reasons[:20]) or "- (none given)"
    return (
        f"Cycle {cycle} of at most {settings.SWARM_PLANNER_CYCLES}: you start from a fresh context. Your branch "
        f"{agent.branch} keeps everything so far, your workers' merged work included.\n\nYour handoff from the last "
        f"cycle:\n{agent.handoff or '(none written)'}\n\nThe judges rejected your submission "
        f"({verdict.commit_sha[:10]}):\n{reasons}\n\nFind what is left, finish it (spawn workers for it), run the "
        "verify command and submit again with a handoff."
    )
