"""The judges app's JSON endpoints for what the review pages show and do besides deciding: one verdict, its
judges' opinions, its audit trail, its diff by files, and the patch export.

Handlers call the services the pages call (judges/services.py's export_patch); judges/api_review_urls.py has
the routes and shapes.
"""

from __future__ import annotations

from django.urls import reverse

from agents.api_base import owned
from agents.api_lists import answer, page_query, paged
from agents.models import Agent
from agents.paging import Page
from judges import run_search, services
from judges.api import _verdicts, verdict_json
from judges.models import Judgement, Review, Verdict

SEARCH_PER_PAGE = 20  # hits a page, unless the query asks otherwise


def _verdict(request, pk: int) -> Verdict:
    return owned(request, _verdicts(request).defer("diff"), pk, "verdict")  # megabytes: read only where used


def opinion_json(j: Judgement) -> dict:
    return {
        "id": j.pk,
        "judge": j.judge,
        "model": j.model,
        "family": j.family,
        "recommendation": j.recommendation,
        "checklist": j.checklist,
        "reasons": j.reasons,
        "error": j.error,
        "checked": j.checked,
        "tokens": j.tokens,
        "cost_usd": float(j.cost_usd),
        "seconds": round(j.seconds, 3),
        "created_at": j.created_at.isoformat(),
    }


def review_json(r: Review) -> dict:
    return {
        "id": r.pk,
        "reviewer": r.reviewer.username if r.reviewer else None,
        "decision": r.decision,
        "comment": r.comment,
        "line_comments": r.line_comments,
        "commit_sha": r.commit_sha,
        "outcome": r.outcome,
        "created_at": r.created_at.isoformat(),
    }


def verdict_detail(request, pk: int) -> dict:
    v = _verdict(request, pk)
    return {
        **verdict_json(v),
        "rule": v.rule,
        "merged_commit": v.merged_commit,
        "merge_error": v.merge_error,
        "opinions": [opinion_json(j) for j in v.judgements.all()],
        "reviews": [review_json(r) for r in v.reviews.select_related("reviewer").order_by("created_at", "id")],
    }


def verdict_opinions(request, pk: int) -> dict:
    return paged(request, _verdict(request, pk).judgements.order_by("id"), "opinions", opinion_json)


def verdict_audit(request, pk: int) -> dict:
    reviews = _verdict(request, pk).reviews.select_related("reviewer").order_by("created_at", "id")
    return paged(request, reviews, "reviews", review_json)


def diff_files(diff: str) -> list[dict]:
    """The submitted diff cut at each file, with its added and removed line counts; the text is the agent's, kept
    as it is (a client shows it as text)."""
    files: list[dict] = []
    for line in diff.splitlines(keepends=True):
        if line.startswith("diff --git ") or not files:
            path = line.rstrip("\n").split(" b/", 1)[-1] if line.startswith("diff --git ") else ""
            files.append({"path": path, "added": 0, "removed": 0, "text": ""})
        current = files[-1]
        current["text"] += line
        if line.startswith("+") and not line.startswith("+++ "):
            current["added"] += 1
        elif line.startswith("-") and not line.startswith("--- "):
            current["removed"] += 1
    return files


def verdict_diff(request, pk: int) -> dict:
    verdict = _verdict(request, pk)
    files = paged(request, diff_files(verdict.diff), "files", lambda f: f)
    return {"verdict": verdict.pk, "commit_sha": verdict.commit_sha, **files}


def verdict_patch(request, pk: int) -> dict:
    verdict = _verdict(request, pk)
    text = services.export_patch(verdict, request.user)
    return {
        "verdict": verdict.pk,
        "filename": f"{verdict.agent.branch.replace('/', '-')}.patch",
        "patch": text,
    }


def hit_json(hit: run_search.Hit) -> dict:
    agent = hit.agent
    url = (
        reverse("judges:detail", args=[hit.verdict])
        if hit.verdict is not None
        else reverse("agents:agent_detail", args=[agent.pk])
    )
    return {
        "kind": hit.kind,
        "id": hit.id,
        "agent": {
            "id": agent.pk,
            "name": agent.name,
            "model": agent.profile.name,
            "family": agent.profile.family,
            "status": agent.status,
        },
        "task": {"id": agent.task_id, "title": agent.task.title},
        "snippet": hit.snippet,
        "marks": [list(m) for m in hit.marks],
        "url": url,
    }


def search_runs(request) -> dict:
    """Past runs of the caller's teams by the words of their transcripts, messages, verdicts, judges' opinions and
    reviews."""
    filters = run_search.filters_from(request.GET)
    number, per_page = page_query(request, SEARCH_PER_PAGE)
    found = run_search.search(Agent.objects.for_user(request.user), request.GET.get("q", ""), filters, number, per_page)
    return answer("hits", Page(found.hits, found.page, found.pages, found.total, found.per_page), hit_json)
