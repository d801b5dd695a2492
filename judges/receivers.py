"""Judges listen to the runtime: a submission queues its verification (its own job on the "verify" queue, never in
the agent's step slot), and sweeps queue again the verifications that were lost."""

import logging

from agents import scheduling, services
from agents.models import Agent
from agents.signals import sweeping, work_submitted
from judges import services as judging

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


scheduling.register_job(VERIFY_JOB, "judges.receivers.verify", scheduling.VERIFY)
work_submitted.connect(_on_submit, dispatch_uid="judges.verify_on_submit")
sweeping.connect(_on_sweep, dispatch_uid="judges.resume_lost_verifications")
