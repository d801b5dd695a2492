from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from agents.services import ServiceError, user_team_ids
from judges import services
from judges.models import Verdict


def _get_verdict_for_user(user, pk: int) -> Verdict:
    return get_object_or_404(
        Verdict.objects.select_related("agent", "agent__task", "agent__profile"),
        pk=pk,
        agent__task__team_id__in=user_team_ids(user),
    )


@login_required
def review_queue(request):
    verdicts = services.pending_for_teams(user_team_ids(request.user))
    return render(request, "judges/queue.html", {"verdicts": verdicts})


@login_required
@require_POST
def decide(request, pk: int, decision: str):
    if decision not in {"approve", "reject"}:
        raise Http404("unknown decision")
    verdict = _get_verdict_for_user(request.user, pk)
    error = None
    try:
        services.review_verdict(verdict, request.user, decision, request.POST.get("comment", ""))
    except ServiceError as exc:
        error = exc.message
    verdict.refresh_from_db()
    if request.htmx:  # the fragment says what happened, refusals included, in place
        return render(request, "judges/partials/verdict.html", {"verdict": verdict, "error": error})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{decision.title()}d {verdict.agent.name}'s work.")
    return redirect("judges:queue")
