"""What judging adds to the agents app's pages: the agents app never queries judges' tables itself."""

from __future__ import annotations

from django import template
from django.db.models import Count

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
