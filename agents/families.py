"""How each model family does across a team's tasks: its attempts (agents), how many were approved, how many were
closed because another attempt of a best-of-N task won, and what an attempt costs on average."""

from __future__ import annotations

from django.db.models import Avg, Count, F, Q, QuerySet

from agents.models import Agent


def family_stats(agents: QuerySet[Agent]) -> list[dict]:
    """One row per family, by name: attempts, approved, closed, rate (approved / attempts, 0-1), avg_cost (USD),
    avg_seconds. One aggregate query."""
    rows = list(
        agents.values(family=F("profile__family"))
        .annotate(
            attempts=Count("id"),
            approved=Count("id", filter=Q(status=Agent.Status.ACCEPTED)),
            closed=Count("id", filter=Q(status=Agent.Status.STOPPED, status_reason__startswith=Agent.CLOSED)),
            avg_cost=Avg("cost_usd"),
            avg_seconds=Avg("elapsed_seconds"),
        )
        .order_by("family")
    )
    for row in rows:
        row["rate"] = row["approved"] / row["attempts"] if row["attempts"] else 0.0
    return rows
