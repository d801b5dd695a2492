"""Judges listen to the runtime: a submission queues its verification (its own job on the "verify" queue, never in
the agent's step slot), sweeps queue again the verifications that were lost, and an approval given to a commit that
was then brought up to date with its target carries to the re-verified commit (judges/landing.py)."""

import logging

from agents import scheduling, services
from agents.models import Agent
from agents.signals import awaiting_decision, sweeping, work_submitted
from judges import landing
from judges import services as judging
from judges.models import Review, Verdict, tests_flagged

log = logging.getLogger(__name__)

VERIFY_JOB = "judges.verify"


def verify(agent_id: int, commit_sha: str, summary: str) -> None:
    """The verification job."""
    try:
        judging.verify_submission(agent_id, commit_sha, summary)
    except Exception as exc:  # never leave an agent silently "being verified": say so, a person can resume it
        log.exception("verification of agent %s failed", agent_id)
        services.set_status(agent_id, Agent.Status.ERROR, f"verification failed: {type(exc).__name__}: {exc}"[:280])


def _queue(agent_id: int, commit_sha: str, summary: str) -> None:
    if not judging.mark_queued(agent_id, commit_sha):
        return  # already verified, being verified, or no longer awaiting review
    if scheduling.submit(VERIFY_JOB, agent_id, commit_sha, summary) is False:
        judging.unmark_queued(agent_id)


def _on_submit(sender, agent_id: int, commit_sha: str, summary: str, **kwargs) -> None:
    _queue(agent_id, commit_sha, summary)


def _on_sweep(sender, startup: bool = False, **kwargs) -> None:
    for agent_id, commit in judging.lost_verifications(include_queued=startup):
        _queue(agent_id, commit, "(verification resumed after a crash)")


def _carry_approval(sender, agent_id: int, verdict_id: int, **kwargs) -> None:
    """A re-verified commit's verdict: the approval given to the commit before it was brought up to date applies,
    through the same rule as a click (verification passed, no reject recommendation), audited as that person's."""
    verdict = Verdict.objects.select_related("agent").filter(pk=verdict_id, status=Verdict.Status.PENDING).first()
    if verdict is None:
        return
    earlier = (
        Review.objects.filter(verdict__agent_id=agent_id, decision="approve", outcome__startswith=landing.LANDING)
        .exclude(verdict_id=verdict_id)
        .order_by("-id")
        .first()
    )
    if earlier is None or earlier.verdict.decided_at is None or earlier.verdict.decided_at > verdict.created_at:
        return
    if Review.objects.filter(verdict__agent_id=agent_id, id__gt=earlier.id).exists():
        return  # decided or carried already since
    if set(tests_flagged(verdict.evidence)) - set(tests_flagged(earlier.verdict.evidence)):
        return  # tests stopped counting since the person approved: they decide again, seeing it
    try:
        comment = f"approved by {earlier.reviewer} on {earlier.commit_sha[:10]}, before it was brought up to date"
        judging.review_verdict(verdict, earlier.reviewer, "approve", comment)
    except services.ServiceError as exc:
        log.info("approval of agent %s not carried: %s", agent_id, exc)


scheduling.register_job(VERIFY_JOB, "judges.receivers.verify", scheduling.VERIFY)
work_submitted.connect(_on_submit, dispatch_uid="judges.verify_on_submit")
sweeping.connect(_on_sweep, dispatch_uid="judges.resume_lost_verifications")
awaiting_decision.connect(_carry_approval, dispatch_uid="judges.carry_approval")
