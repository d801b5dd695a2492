"""Where each submission's verification stands between its queue and its verdict: marked queued (sweeps leave it
alone for a while), claimed by the one process that runs it, or lost with a worker (sweeps queue it again)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from agents import lease
from agents.models import Agent

QUEUED = "queued"  # lease owner of a submission whose verification waits in its queue (no process holds it)


def mark_queued(agent_id: int, commit_sha: str) -> bool:
    """The submission's verification is queued: sweeps leave it alone for SWARM_VERIFY_WAIT_SECONDS (a verify
    queue may be long), after which it counts as lost and is queued again (a duplicate is harmless: see claim)."""
    now = timezone.now()
    return (
        Agent.objects.filter(pk=agent_id, status=Agent.Status.AWAITING_REVIEW, submitted_commit=commit_sha)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now) | Q(lease_owner=QUEUED))
        # verified meanwhile (a sweep that saw it lost a moment before its verdict): its job would only leave the mark
        .exclude(verdicts__commit_sha=commit_sha)
        .update(lease_owner=QUEUED, lease_expires_at=now + timedelta(seconds=settings.SWARM_VERIFY_WAIT_SECONDS))
        == 1
    )


def unmark_queued(agent_id: int) -> None:
    """The job could not be queued (Redis unreachable): the next sweep queues it again."""
    Agent.objects.filter(pk=agent_id, lease_owner=QUEUED).update(lease_expires_at=None)


def claim_verification(agent_id: int, commit_sha: str) -> bool:
    """One verification per submission, even when a sweeper and the submitting worker both try."""
    now = timezone.now()
    return (
        Agent.objects.filter(pk=agent_id, status=Agent.Status.AWAITING_REVIEW, submitted_commit=commit_sha)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now) | Q(lease_owner=QUEUED))
        .exclude(verdicts__commit_sha=commit_sha)
        # the owner too: a sweep frees a dead holder's lease at once, and never a live one's
        .update(lease_expires_at=now + timedelta(seconds=settings.SWARM_LEASE_SECONDS), lease_owner=lease.worker_id())
        == 1
    )


def lost_verifications(include_queued: bool = False) -> list[tuple[int, str]]:
    """Submissions whose verification died with a worker: awaiting review, no verdict, nobody on it. With
    `include_queued` (a start-up sweep: an embedded queue died with its process), also those still marked queued."""
    now = timezone.now()
    nobody = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    if include_queued:
        nobody |= Q(lease_owner=QUEUED)
    return list(
        Agent.objects.filter(status=Agent.Status.AWAITING_REVIEW)
        .exclude(submitted_commit="")
        .filter(nobody)
        .exclude(verdicts__commit_sha=F("submitted_commit"))
        .values_list("pk", "submitted_commit")
    )
