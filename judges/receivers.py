import logging

from agents import services
from agents.models import Agent
from agents.signals import sweeping, work_submitted
from judges import services as judging

log = logging.getLogger(__name__)


def _on_submit(sender, agent_id: int, commit_sha: str, summary: str, **kwargs) -> None:
    try:
        judging.verify_submission(agent_id, commit_sha, summary)
    except Exception as exc:  # never leave an agent silently "being verified": say so, a person can resume it
        log.exception("verification of agent %s failed", agent_id)
        services.set_status(agent_id, Agent.Status.ERROR, f"verification failed: {type(exc).__name__}: {exc}"[:280])


def _on_sweep(sender, **kwargs) -> None:
    for agent_id, commit in judging.lost_verifications():
        _on_submit(sender, agent_id=agent_id, commit_sha=commit, summary="(verification resumed after a crash)")


work_submitted.connect(_on_submit, dispatch_uid="judges.verify_on_submit")
sweeping.connect(_on_sweep, dispatch_uid="judges.resume_lost_verifications")
