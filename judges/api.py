"""The verdicts' JSON endpoints: the review queue and a person's approve or reject, through review_verdict.

They live here because judges may import agents, never the reverse; swarm_web/urls.py includes both tables.
"""

from __future__ import annotations

from agents import worktrees
from agents.api_base import (
    INTEGER,
    STRING,
    STRINGS,
    TIME,
    FieldError,
    Operation,
    Route,
    body,
    listing,
    obj,
    owned,
    text,
)
from agents.services import ServiceError
from judges import services
from judges.models import Verdict

VERDICT = obj(
    "Verdict",
    id=INTEGER,
    agent=obj(id=INTEGER, name=STRING, model=STRING),
    task=obj(id=INTEGER, title=STRING),
    commit_sha=STRING,
    recommendation={"type": "string", "enum": Verdict.Recommendation.values},
    reasons=STRINGS,
    summary=STRING,
    evidence={"type": "object", "description": "verify command, exit code and output; the diff's files"},
    status={"type": "string", "enum": Verdict.Status.values},
    created_at=STRING,
    decided_at=TIME,
    decided_by={"type": ["string", "null"]},
)
DECISION = body([], comment=text(20_000, description="for reject: what the agent should fix (it gets this)"))
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


ROUTES = [
    Route(
        "verdicts",
        "api_verdicts",
        get=Operation(
            verdicts_list,
            "Verdicts of your teams' agents: the pending queue by default",
            listing("verdicts", VERDICT),
            query={"status": {"type": "string", "enum": [*Verdict.Status.values, "all"], "default": "pending"}},
        ),
    ),
    Route(
        "verdicts/<int:pk>/approve",
        "api_verdict_approve",
        post=Operation(
            verdict_approve,
            "Approve the verdict's commit: the agent's work is accepted",
            VERDICT,
            body=DECISION,
            errors=(409,),
            action="review",
        ),
    ),
    Route(
        "verdicts/<int:pk>/reject",
        "api_verdict_reject",
        post=Operation(
            verdict_reject,
            "Reject it: the comment and the verification go back to the agent as a message",
            VERDICT,
            body=DECISION,
            errors=(409,),
            action="review",
        ),
    ),
]

urlpatterns = [route.urlpattern() for route in ROUTES]
