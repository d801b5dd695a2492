from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import condition, require_GET, require_POST

from agents.context_processors import team as agent_counts
from agents.errors import FieldError
from agents.models import Agent, Membership, TaskSpec
from agents.paging import page_of
from agents.permissions import grants, owned_or_404
from agents.services import ServiceError
from agents.teams import current_team_id, team_for
from judges import bestof, bulk, diffview, queries, services, skill_draft
from judges.context_processors import reviews
from judges.models import Verdict

VERDICT_PAGE = Verdict.objects.select_related("agent", "agent__task", "agent__task__repo", "agent__profile")


def _line_comments(post) -> list[dict]:
    comments = []
    for ref, text in zip(post.getlist("line_comment_ref"), post.getlist("line_comment"), strict=False):
        path, _, line = ref.rpartition(":")
        if text.strip() and path:
            comments.append({"path": path[:500], "line": line[:12], "text": text.strip()[:5000]})
    return comments[:200]


def _filters(request, sorts: dict) -> tuple[queries.Filters, str]:
    """The query string's filters, or the defaults and what was wrong (the page says so rather than failing)."""
    try:
        return queries.Filters.parse(request.GET, sorts), ""
    except FieldError as exc:
        return queries.Filters.parse({}, sorts), f"Ignored the filters: {exc.field} {exc.message}"


def _queue_etag(request) -> str:
    """Changes when the page would: the pending set, the filters, the user's role, and the minute (for the ages)."""
    team_id = current_team_id(request)
    role = grants(request.user, team_id).role if team_id else None
    minute = int(timezone.now().timestamp() // 60)
    return queries.etag(team_id, role, queries.pending_version(team_id), request.GET.urlencode(), minute)


def _queue_context(request) -> dict:
    team_id = current_team_id(request)
    f, problem = _filters(request, queries.QUEUE_SORTS)
    page = page_of(queries.lines(queries.queue(Verdict.objects.in_team(team_id), f)), f.page, f.per_page)
    return {
        "page": page,
        "f": f,
        "problem": problem,
        "sorts": queries.QUEUE_SORTS,
        "verification": queries.VERIFICATION,
        "recommendations": Verdict.Recommendation.choices,
        "tasks": TaskSpec.objects.in_team(team_id).order_by("title").values_list("pk", "title"),
        "poll": {"If-None-Match": _queue_etag(request)},
    }


@login_required
@require_GET
def review_queue(request):
    """The pending verdicts, one line each: filtered, sorted, paged; the list keeps itself current (queue_live)."""
    context = _queue_context(request)
    return render(request, "judges/queue.html", context, status=400 if context["problem"] else 200)


@login_required
@require_GET
@condition(etag_func=_queue_etag)  # a poll that finds nothing new is a 304: one aggregate query, nothing rendered
def queue_live(request):
    response = render(request, "judges/partials/queue_list.html", _queue_context(request))
    response["Cache-Control"] = "private, no-cache"
    return response


def _counts_etag(request) -> str:
    """The counts themselves: partials/nav_poll.html writes the same tag from what the page shows."""
    counts = {**agent_counts(request), **reviews(request)}
    return f'"{counts.get("nav_attention") or 0}-{counts.get("nav_pending_reviews") or 0}"'


@login_required
@require_GET
@condition(etag_func=_counts_etag)
def nav_counts(request):
    """The navigation's counters as out-of-band swaps; the page polls this (a 304 while they stay the same)."""
    response = render(request, "judges/partials/nav_counts.html", {"oob": True})
    response["Cache-Control"] = "private, no-cache"
    return response


@login_required
@require_POST
def bulk_decide(request):
    """Approve or reject the selected verdicts of the current team, each audited; the queue says what happened."""
    team = team_for(request, "review")
    ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit() and len(i) < 19]
    decision = request.POST.get("decision", "")
    try:
        outcome = bulk.decide_many(request.user, team.pk, ids, decision, request.POST.get("comment", ""))
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        if outcome.decided:
            messages.success(request, outcome.summary())
        else:
            messages.error(request, outcome.summary())
    return redirect(_next(request, reverse("judges:queue")))


def _next(request, default: str) -> str:
    """Where a form asked to go back to (the page it is on), if that is this site; else `default`."""
    target = request.POST.get("next", "")
    return target if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()) else default


@login_required
@require_GET
def history(request):
    """Decided verdicts, filtered and paged, each with links to its review, diff, audit and patch."""
    team_id = current_team_id(request)
    f, problem = _filters(request, queries.HISTORY_SORTS)
    page = page_of(queries.lines(queries.history(Verdict.objects.in_team(team_id), f)), f.page, f.per_page)
    reviewers = Membership.objects.in_team(team_id).order_by("user__username").values_list("user__username", flat=True)
    context = {
        "page": page,
        "f": f,
        "problem": problem,
        "sorts": queries.HISTORY_SORTS,
        "outcomes": queries.OUTCOMES,
        "verification": queries.VERIFICATION,
        "recommendations": Verdict.Recommendation.choices,
        "tasks": TaskSpec.objects.in_team(team_id).order_by("title").values_list("pk", "title"),
        "reviewers": reviewers,
    }
    return render(request, "judges/history.html", context, status=400 if problem else 200)


@login_required
@require_GET
def verdict_detail(request, pk: int):
    verdict = owned_or_404(request.user, VERDICT_PAGE, pk)
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
    verdict = owned_or_404(request.user, VERDICT_PAGE, pk, "review")
    ref = f"{request.GET.get('path', '')[:500]}:{request.GET.get('line', '')[:12]}"
    return render(request, "judges/partials/line_comment.html", {"verdict": verdict, "ref": ref})


@login_required
@require_POST  # it records an export, which lets the branch be deleted: a link or a prefetch must not do that
def patch(request, pk: int):
    verdict = owned_or_404(request.user, VERDICT_PAGE, pk, "export")
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
    verdict = owned_or_404(request.user, VERDICT_PAGE, pk, "review")
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
        return redirect(_next(request, reverse("judges:detail", args=[verdict.pk])))
    messages.success(request, f"{decision.title()}d {verdict.agent.name}'s work.")
    return redirect(_next(request, reverse("judges:queue")))


@login_required
@require_GET
def compare(request, pk: int):
    """A task's attempts side by side (best of N): figures, verdicts, checks and diffs; a reviewer approves one."""
    task = owned_or_404(request.user, TaskSpec.objects.select_related("repo"), pk)
    return render(
        request,
        "judges/compare.html",
        {"task": task, "attempts": bestof.attempts(task), "can": grants(request.user, task.team_id)},
    )


@login_required
@require_POST
def save_as_skill(request, pk: int):
    """ "Save as skill" on an approved run: the skill form, filled with a model's draft and the run as provenance."""
    agent = owned_or_404(request.user, Agent.objects.select_related("task", "profile"), pk, "edit_taste")
    try:
        text = skill_draft.draft(request.user, agent)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect(agent)
    context = {"skill": None, "text": text, "error": None, "sources": [agent.pk], "source_agents": [agent]}
    return render(request, "agents/skill_form.html", context)
