"""The JSON API of the overview pages' lists: a task's agents as its table shows them (filtered, sorted, paged:
agents/fleet.py), who waits for a person oldest first (the attention strip), and how each model family does (the
dashboard: agents/families.py). swarm_web/urls.py includes its routes."""

from __future__ import annotations

from agents import families, fleet
from agents.api import _task, agent_summary_json
from agents.api_base import (
    INTEGER,
    NUMBER,
    STRING,
    TEAM_QUERY,
    TIME,
    FieldError,
    Operation,
    Route,
    int_query,
    obj,
    query_team,
)
from agents.api_lists import PAGE_QUERY, page_schema, paged
from agents.api_schemas import AGENT_SUMMARY
from agents.models import Agent


def _choice(request, name: str, choices, default: str) -> str:
    value = request.GET.get(name, default)
    if value not in choices:
        raise FieldError(name, f"must be one of: {', '.join(choices)}.")
    return value


def task_agents(request, pk: int) -> dict:
    """A page of the task's agents, as the task page's table filters and sorts them (fleet.TableView)."""
    task = _task(request, pk)
    view = fleet.TableView(
        status=_choice(request, "status", ["", *fleet.STATUS_FILTERS], ""),
        profile=int_query(request, "profile", 0) or None,
        family=request.GET.get("family", "")[:50],
        q=request.GET.get("q", "").strip()[:100],
        sort=_choice(request, "sort", list(fleet.SORTS), "name"),
        desc=_choice(request, "desc", ["false", "true"], "false") == "true",
    )
    agents = view.ordered(view.apply(task.agents.all())).select_related("profile")
    return {"task": task.pk, **paged(request, agents, "agents", _row)}


def _row(a: Agent) -> dict:
    return {**agent_summary_json(a), "family": a.profile.family}


def attention(request) -> dict:
    """Who waits for a person, oldest wait first: a team's agents, or one task's (`task`)."""
    if request.GET.get("task", "") != "":
        task = _task(request, int_query(request, "task", 0))
        team, agents = task.team, task.agents.all()
    else:
        team = query_team(request)
        agents = Agent.objects.in_team(team)
    answer = paged(request, fleet.waiting(agents), "agents", _waiter)
    return {"team": {"id": team.pk, "name": team.name}, **answer}


def _waiter(a: Agent) -> dict:
    since = a.waiting_since.isoformat() if a.waiting_since else None
    return {**agent_summary_json(a), "task": {"id": a.task_id, "title": a.task.title}, "waiting_since": since}


def family_stats(request) -> dict:
    """Each model family across the team's tasks, as the dashboard's table: attempts, approvals, closed, averages."""
    team = query_team(request)
    rows = [
        {
            "family": r["family"],
            "attempts": r["attempts"],
            "approved": r["approved"],
            "rate": round(r["rate"], 4),
            "closed": r["closed"],
            "avg_cost_usd": float(r["avg_cost"] or 0),
            "avg_seconds": round(r["avg_seconds"] or 0, 3),
        }
        for r in families.family_stats(Agent.objects.in_team(team))
    ]
    return {"team": {"id": team.pk, "name": team.name}, **paged(request, rows, "families", lambda r: r)}


# ---------------------------------------------------------------- routes and shapes

_ENUM = lambda values, description: {"type": "string", "enum": list(values), "description": description}  # noqa: E731
TABLE_QUERY = {
    "status": _ENUM(fleet.STATUS_FILTERS, "one status, or attention: those that wait for a person"),
    "profile": {"type": "integer", "minimum": 1, "description": "a model profile's id"},
    "family": {"type": "string", "maxLength": 50, "description": "a model family"},
    "q": {"type": "string", "maxLength": 100, "description": "part of the agent's name or model, any case"},
    "sort": _ENUM(fleet.SORTS, "the column: name (default), model, status, activity, time, tokens, cost, read, nudges"),
    "desc": _ENUM(["false", "true"], "true: the other way round"),
    **PAGE_QUERY,
}
TEAM = obj(id=INTEGER, name=STRING)
WAITER = obj(
    "WaitingAgent",
    **AGENT_SUMMARY["properties"],
    task=obj(id=INTEGER, title=STRING),
    waiting_since={**TIME, "description": "when its wait began (its latest status change)"},
)
FAMILY = obj(
    "FamilyStats",
    family=STRING,
    attempts={**INTEGER, "description": "agents of the family"},
    approved=INTEGER,
    rate={**NUMBER, "description": "approved / attempts, 0-1"},
    closed={**INTEGER, "description": "best-of-N attempts closed because another was approved"},
    avg_cost_usd=NUMBER,
    avg_seconds=NUMBER,
)

ROUTES = [
    Route(
        "tasks/<int:pk>/agents",
        "api_task_agents",
        get=Operation(
            task_agents,
            "The task's agents a page at a time, filtered and sorted as the task page's table",
            page_schema("agents", obj("TableAgent", **AGENT_SUMMARY["properties"], family=STRING), task=INTEGER),
            query=TABLE_QUERY,
        ),
    ),
    Route(
        "attention",
        "api_attention",
        get=Operation(
            attention,
            "Who waits for a person (a verdict, a budget, a question, a pause, an error), oldest wait first",
            page_schema("agents", WAITER, team=TEAM),
            errors=(404,),  # the task named is not in your teams
            query={
                "task": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "one task's agents (its team: `team` is not read)",
                },
                **TEAM_QUERY,
                **PAGE_QUERY,
            },
        ),
    ),
    Route(
        "families",
        "api_families",
        get=Operation(
            family_stats,
            "How each model family does across the team's tasks (the dashboard's table)",
            page_schema("families", FAMILY, team=TEAM),
            query={**TEAM_QUERY, **PAGE_QUERY},
        ),
    ),
]

urlpatterns = [route.urlpattern() for route in ROUTES]
