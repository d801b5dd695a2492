from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from agents.permissions import grants, require_page
from agents.services import ServiceError
from agents.teams import current_membership
from judges import diffview, services
from judges.models import Verdict


def _get_verdict_for_user(user, pk: int, action: str = "view") -> Verdict:
    """The verdict if its agent's task belongs to one of the user's teams (404 otherwise), and if the user's role
    there allows the action (403 otherwise)."""
    verdict = get_object_or_404(
        Verdict.objects.for_user(user).select_related("agent", "agent__task", "agent__task__repo", "agent__profile"),
        pk=pk,
    )
    require_page(user, verdict.agent.task.team_id, action)
    return verdict


def _line_comments(post) -> list[dict]:
    comments = []
    for ref, text in zip(post.getlist("line_comment_ref"), post.getlist("line_comment"), strict=False):
        path, _, line = ref.rpartition(":")
        if text.strip() and path:
            comments.append({"path": path[:500], "line": line[:12], "text": text.strip()[:5000]})
    return comments[:200]


@login_required
@require_GET
def review_queue(request):
    membership = current_membership(request)
    verdicts = services.pending_in_team(membership.team_id if membership else None)
    return render(request, "judges/queue.html", {"verdicts": verdicts})


@login_required
@require_GET
def verdict_detail(request, pk: int):
    verdict = _get_verdict_for_user(request.user, pk)
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    files, pages = diffview.parse(verdict.diff, page)
    return render(
        request,
        "judges/verdict_detail.html",
        {
            "verdict": verdict,
            "files": files,
            "page": page,
            "pages": range(1, pages + 1) if pages > 1 else [],
            "split": request.GET.get("view") == "split",
            "judgements": list(verdict.judgements.all()),
            "reviews": list(verdict.reviews.select_related("reviewer")),
            "can": grants(request.user, verdict.agent.task.team_id),
        },
    )


@login_required
@require_GET
def comment_form(request, pk: int):
    verdict = _get_verdict_for_user(request.user, pk, "review")
    ref = f"{request.GET.get('path', '')[:500]}:{request.GET.get('line', '')[:12]}"
    return render(request, "judges/partials/line_comment.html", {"verdict": verdict, "ref": ref})


@login_required
@require_POST  # it records an export, which lets the branch be deleted: a link or a prefetch must not do that
def patch(request, pk: int):
    verdict = _get_verdict_for_user(request.user, pk, "export")
    try:
        text = services.export_patch(verdict, request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("judges:detail", pk=verdict.pk)
    response = HttpResponse(text, content_type="text/x-patch; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{verdict.agent.branch.replace("/", "-")}.patch"'
    return response


@login_required
@require_POST
def decide(request, pk: int, decision: str):
    if decision not in {"approve", "reject"}:
        raise Http404("unknown decision")
    verdict = _get_verdict_for_user(request.user, pk, "review")
    error = None
    try:
        services.review_verdict(
            verdict, request.user, decision, request.POST.get("comment", ""), _line_comments(request.POST)
        )
    except ServiceError as exc:
        error = exc.message
    verdict.refresh_from_db()
    if request.htmx:  # the fragment says what happened, refusals included, in place
        context = {"verdict": verdict, "error": error, "can": grants(request.user, verdict.agent.task.team_id)}
        return render(request, "judges/partials/verdict.html", context)
    if error:
        messages.error(request, error)
        return redirect("judges:detail", pk=verdict.pk)
    messages.success(request, f"{decision.title()}d {verdict.agent.name}'s work.")
    return redirect("judges:queue")
