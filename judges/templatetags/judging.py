"""What judging adds to the agents app's pages: the agents app never queries judges' tables itself."""

from __future__ import annotations

import json

from django import template
from django.db.models import Count

from judges import taste_stats
from judges.models import Verdict

register = template.Library()


@register.simple_tag(takes_context=True)
def pending_verdicts(context, task) -> int:
    """How many verdicts on the task's agents wait for a person: one query per page for all of its team's tasks."""
    key = ("judges.pending_verdicts", task.team_id)
    if key not in context.render_context:
        counts = (
            Verdict.objects.in_team(task.team_id)
            .pending()
            .order_by()
            .values("agent__task_id")
            .annotate(n=Count("id"))
            .values_list("agent__task_id", "n")
        )
        context.render_context[key] = dict(counts)
    return context.render_context[key].get(task.pk, 0)


@register.simple_tag
def query(filters, **changes) -> str:
    """The list's query string with some values changed: `?{% query f page=2 %}` (escaped by the template)."""
    return filters.query_string(**changes)


@register.filter
def json_attr(value) -> str:
    """A value as JSON for an attribute such as hx-headers (the template escapes the quotes)."""
    return json.dumps(value)


@register.filter
def sort_label(key: str, sorts: dict) -> str:
    return sorts.get(key, ("",))[0]


@register.filter
def judging_totals(judgements) -> dict:
    """What judging one verdict cost: judges, tokens, dollars and seconds (the panel asks them one after another)."""
    rows = list(judgements)
    return {
        "judges": len(rows),
        "tokens": sum(j.tokens for j in rows),
        "cost": sum(j.cost_usd for j in rows),
        "seconds": sum(j.seconds for j in rows),
    }


@register.simple_tag
def failing_rules(team_id: int, task_id: int | None = None) -> list[dict]:
    """The taste rules judges found not met most often, on a task or across the team (judges/taste_stats.py)."""
    return taste_stats.failing_rules(team_id, task_id)
