from __future__ import annotations

import json

from django import template

from agents import receipts

register = template.Library()


@register.filter
def compact(value) -> str:
    value = int(value or 0)
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1_000:
        return f"{value / 1_000:.1f}k"
    return str(value)


@register.filter
def minutes(seconds) -> str:
    return f"{(seconds or 0) / 60:.1f}"


WAITING_LABELS = {
    "verdict": "verdict pending",
    "loop": "looping",
    "question": "asks a question",
    "workers": "waits for its workers",
    "paused": "paused",
    "error": "error",
}


@register.filter
def waiting_label(agent) -> str:
    """Why an agent waits for a person, in a few words (Agent.waiting_for says which)."""
    kind = agent.waiting_for
    if kind == "budget":
        return f"{agent.budget_used_up()} budget used up"
    return WAITING_LABELS.get(kind, agent.get_status_display())


@register.filter
def receipt(event) -> str:
    """The receipt state (queued, delivered, answered) a message event or a receipt event shows; "" otherwise."""
    return receipts.receipt(event)


@register.filter
def pretty_json(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)


@register.inclusion_tag("agents/partials/budget_bars.html")
def budget_bars(agent):
    f = agent.budget_fraction()
    return {
        "bars": [
            ("time", f["time"], f"{agent.elapsed_seconds / 60:.1f} / {agent.budget_minutes} min"),
            ("tokens", f["tokens"], f"{compact(agent.tokens)} / {compact(agent.budget_tokens)}"),
            ("cost", f["cost"], f"${agent.cost_usd:.2f} / ${agent.budget_usd:.2f}"),
        ]
    }
