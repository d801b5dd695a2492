"""Judging's chart for the agents app's pages (the task page, the team dashboard): verdict outcomes over time, drawn
with the agents app's charts on the same time window as its own. The agents app never queries judges' tables."""

from __future__ import annotations

from django import template
from django.db.models import Count

from agents import charts
from judges.models import Verdict

register = template.Library()

# outcome: (label, the statuses it counts), in the order the bars stack
OUTCOMES = {
    "approved": ("approved", {Verdict.Status.APPROVED}),
    "rejected": ("rejected", {Verdict.Status.REJECTED}),
    "waiting": ("waiting for a person", {Verdict.Status.PENDING, Verdict.Status.MERGING}),
    "superseded": ("superseded", {Verdict.Status.SUPERSEDED}),
}


@register.inclusion_tag("agents/partials/chart.html")
def verdict_outcomes_chart(window: charts.Window, team_id: int, task=None) -> dict:
    """Verdicts by outcome, per bucket of the time they were made (one query): the task's, or the whole team's."""
    verdicts = Verdict.objects.in_team(team_id)
    if task is not None:
        verdicts = verdicts.filter(agent__task=task)
    rows = (
        verdicts.filter(created_at__gte=window.since, created_at__lte=window.until)
        .annotate(bucket=window.trunc())
        .order_by()
        .values_list("bucket", "status")
        .annotate(n=Count("id"))
    )
    index = window.index()
    counts = {key: [0] * len(index) for key in OUTCOMES}
    for bucket, status, n in rows:
        i = index.get(bucket.timestamp())
        key = next((k for k, (_, statuses) in OUTCOMES.items() if status in statuses), None)
        if i is not None and key:
            counts[key][i] += n
    series = [
        charts.Series(label, f"vo-{key}", counts[key]) for key, (label, _) in OUTCOMES.items() if any(counts[key])
    ]
    return {"chart": charts.draw(charts.Chart("Verdict outcomes", "verdicts", "bars", window, series))}
