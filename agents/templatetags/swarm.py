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
        return agent.budget_used_up()
    return WAITING_LABELS.get(kind, agent.get_status_display())


@register.inclusion_tag("agents/partials/status_pill.html")
def status_pill(agent, spawned=None, with_id=False) -> dict:
    """The agent's status in a pill (the card, the row, the header, the tree). A planner waiting for its workers says
    so, with how many of them still work: it waits for them, not for a person. `spawned`: the agents it spawned,
    when the caller holds them (the tree); else one query for a waiting planner."""
    pill = {"agent": agent, "with_id": with_id, "css": agent.status, "text": agent.get_status_display(), "title": ""}
    if agent.waiting_on_workers:
        working, waited = agent.wait_progress(spawned)
        pill.update(css="waiting", text=f"waiting for workers ({working} of {waited} running)")
        pill["title"] = f"paused until {', '.join(agent.waited_names)} settle; a person need not act"
    return pill


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
