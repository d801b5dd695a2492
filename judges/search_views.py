"""The search page: past runs of the current team by the words of their transcripts, messages, verdicts, judges'
opinions and reviews (judges/run_search.py), filtered; the results swap in place as the query changes (htmx)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agents.errors import FieldError
from agents.models import Agent, ModelProfile, TaskSpec
from agents.teams import team_for
from judges import run_search


@login_required
@require_GET
def search(request):
    team = team_for(request, "view")
    q = request.GET.get("q", "")
    context = {
        "q": q[: run_search.MAX_QUERY + 1],
        "tasks": TaskSpec.objects.in_team(team).order_by("title").values_list("pk", "title"),
        "models": ModelProfile.objects.in_team(team).order_by("name").values_list("name", flat=True),
        "families": sorted(set(ModelProfile.objects.in_team(team).values_list("family", flat=True)) - {""}),
        "outcomes": run_search.OUTCOMES,
        "kinds": run_search.KINDS,
    }
    status = 200
    try:
        filters = run_search.filters_from(request.GET)
        context["filters"] = filters
        if q.strip():
            page = request.GET.get("page", "1")
            number = int(page) if page.isdigit() and len(page) < 9 else 1
            results = run_search.search(Agent.objects.in_team(team), q, filters, number)
            context["results"] = results
            query = {k: v for k, v in request.GET.items() if k != "page" and v}
            context["prev_query"] = urlencode({**query, "page": results.page - 1})
            context["next_query"] = urlencode({**query, "page": results.page + 1})
    except FieldError as exc:
        context["problem"], status = exc.message[:1].upper() + exc.message[1:], 400
        context.setdefault("filters", run_search.Filters())
    template = "judges/partials/search_results.html" if request.htmx and not request.htmx.boosted else None
    return render(request, template or "judges/search.html", context, status=status)
