"""The judges app's JSON endpoints: the review queue and a person's approve or reject, through review_verdict.

Handlers only, as in agents/api.py: judges/api_schemas.py has their shapes and judges/api_urls.py their routes.
"""

from __future__ import annotations

from agents import worktrees
from agents.api_base import FieldError, owned
from agents.services import ServiceError
from judges import services
from judges.models import Verdict

LIMIT = 500


def verdict_json(v: Verdict) -> dict:
    return {
        "id": v.pk,
        "agent": {"id": v.agent_id, "name": v.agent.name, "model": v.agent.profile.name},
        "task": {"id": v.agent.task_id, "title": v.agent.task.title},
        "commit_sha": v.commit_sha,
        "recommendation": v.recommendation,
        "reasons": v.reasons,
        "summary": v.summary,
        "evidence": v.evidence,
        "status": v.status,
        "created_at": v.created_at.isoformat(),
        "decided_at": v.decided_at.isoformat() if v.decided_at else None,
        "decided_by": v.decided_by.username if v.decided_by else None,
    }


def _verdicts(request):
    return Verdict.objects.for_user(request.user).select_related("agent", "agent__task", "agent__profile", "decided_by")


def verdicts_list(request) -> dict:
    status = request.GET.get("status", Verdict.Status.PENDING)
    if status not in {*Verdict.Status.values, "all"}:
        raise FieldError("status", f"must be one of: {', '.join(Verdict.Status.values)}, all.")
    verdicts = _verdicts(request)
    if status == "all":
        verdicts = verdicts.order_by("-created_at", "-id")
    else:  # the queue: oldest first, as people work through it
        verdicts = verdicts.filter(status=status).order_by("created_at", "id")
    return {"verdicts": [verdict_json(v) for v in verdicts[:LIMIT]]}


def _decide(request, data: dict, pk: int, decision: str) -> dict:
    verdict = owned(request, _verdicts(request), pk, "verdict")
    try:
        services.review_verdict(verdict, request.user, decision, data.get("comment", ""))
    except worktrees.GitError as exc:
        raise ServiceError(f"Could not read {verdict.agent.name}'s branch: {exc}", 409) from None
    return verdict_json(_verdicts(request).get(pk=pk))


def verdict_approve(request, data: dict, pk: int) -> dict:
    return _decide(request, data, pk, "approve")


def verdict_reject(request, data: dict, pk: int) -> dict:
    return _decide(request, data, pk, "reject")
