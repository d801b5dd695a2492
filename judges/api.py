"""The judges app's JSON endpoints: the review queue and a person's approve or reject, through review_verdict.

Handlers only, as in agents/api.py: judges/api_schemas.py has their shapes and judges/api_urls.py their routes.
"""

from __future__ import annotations

from agents import worktrees
from agents.api_base import FieldError, owned, request_team
from agents.api_lists import answer
from agents.paging import page_of
from agents.services import ServiceError
from judges import bulk, queries, services
from judges.models import Verdict


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
        "verification_passed": v.verification_passed,
    }


def _verdicts(request):
    return Verdict.objects.for_user(request.user).select_related("agent", "agent__task", "agent__profile", "decided_by")


def verdicts_list(request) -> dict:
    """A page of verdicts: the pending queue by default (oldest first), the decided ones (latest decision first),
    one status, or all (newest first); filtered and sorted as on the pages."""
    status = request.GET.get("status", Verdict.Status.PENDING)
    if status not in {*Verdict.Status.values, "decided", "all"}:
        raise FieldError("status", f"must be one of: {', '.join(Verdict.Status.values)}, decided, all.")
    visible = _verdicts(request).defer("diff")
    if status == "decided":
        f = queries.Filters.parse(request.GET, queries.HISTORY_SORTS)
        verdicts = queries.history(visible, f)
    else:
        f = queries.Filters.parse(request.GET, queries.QUEUE_SORTS, "newest" if status == "all" else "oldest")
        verdicts = queries.queue(visible, f, None if status == "all" else [status])
    return answer("verdicts", page_of(verdicts, f.page, f.per_page), verdict_json)


def verdicts_decide(request, data: dict) -> dict:
    """One decision on several verdicts of one team, each through review_verdict and audited (decide_many)."""
    team = request_team(request, data.get("team"))
    outcome = bulk.decide_many(request.user, team.pk, data["ids"], data["decision"], data.get("comment", ""))
    decided = _verdicts(request).filter(pk__in=[v.pk for v in outcome.decided]).order_by("created_at", "id")
    return {
        "decision": outcome.decision,
        "decided": [verdict_json(v) for v in decided],
        "refused": [{"id": pk, "agent": name or None, "reason": reason} for pk, name, reason in outcome.refused],
        "summary": outcome.summary(),
    }


def line_comments(data: dict) -> list[dict]:
    """The body's line comments as the review page's form makes them (the line as its text)."""
    return [
        {"path": c["path"], "line": str(c["line"]), "text": c["text"].strip()} for c in data.get("line_comments", [])
    ]


def _decide(request, data: dict, pk: int, decision: str) -> dict:
    verdict = owned(request, _verdicts(request), pk, "verdict")
    try:
        services.review_verdict(verdict, request.user, decision, data.get("comment", ""), line_comments(data))
    except worktrees.GitError as exc:
        raise ServiceError(f"Could not read {verdict.agent.name}'s branch: {exc}", 409) from None
    return verdict_json(_verdicts(request).get(pk=pk))


def verdict_approve(request, data: dict, pk: int) -> dict:
    return _decide(request, data, pk, "approve")


def verdict_reject(request, data: dict, pk: int) -> dict:
    return _decide(request, data, pk, "reject")
