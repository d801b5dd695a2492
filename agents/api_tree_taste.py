"""The JSON API of the planner's tree page and the taste versions page: the task's tree of agents, an action on an
agent and everything below it (agents/planner.py, as agents/tree_views.py), and a taste guide's versions with the
diff between two (agents/taste.py, as agents/taste_views.py). swarm_web/urls.py includes its routes."""

from __future__ import annotations

from agents import planner, taste
from agents.api import _agent, _task, agent_summary_json
from agents.api_actions import _guide
from agents.api_base import (
    BOOLEAN,
    INTEGER,
    NUMBER,
    STRING,
    STRINGS,
    FieldError,
    Operation,
    Route,
    body,
    int_query,
    obj,
    text,
)
from agents.api_lists import PAGE_QUERY, page_schema, paged
from agents.api_schemas import AGENT_SUMMARY
from agents.errors import ServiceError

# ---------------------------------------------------------------- the planner's tree


def node_json(node: planner.Node) -> dict:
    a = node.agent
    return {
        **agent_summary_json(a),
        "role": a.role,
        "parent": a.parent_id,
        "subtask": a.subtask or {},
        "budget": {
            "minutes": a.budget_minutes,
            "tokens": a.budget_tokens,
            "usd": float(a.budget_usd),
            "allotted": a.allotted_tokens is not None,
            "used": {k: round(v, 4) for k, v in a.budget_fraction().items()},
        },
        "cycle": a.cycle,
        "handoff": a.handoff,
        "finished": a.finished,
        "descendants": node.descendants,
        "children": [node_json(child) for child in node.children],
    }


def task_tree(request, pk: int) -> dict:
    task = _task(request, pk)
    return {"task": task.pk, "roots": [node_json(n) for n in planner.tree(task)]}


def agent_subtree(request, data: dict, pk: int) -> dict:
    """Pause, stop or message the agent and every agent below it, as the tree page's buttons do."""
    action = data["action"]
    request.action = "message" if action == "message" else "control"  # the role check the page makes
    agent = _agent(request, pk)
    if action == "message" and not data.get("text", "").strip():
        raise FieldError("text", "is needed to message a subtree: send some text.")
    try:
        reached = planner.act_on_subtree(agent, action, request.user.username, data.get("text", ""), request.user)
    except ServiceError as exc:
        if exc.status == 400:
            raise FieldError("action", exc.message) from None
        raise
    return {"agent": agent.pk, "action": action, "reached": reached}


# ---------------------------------------------------------------- taste versions


def version_json(v) -> dict:
    return {
        "number": v.number,
        "rules": v.rules,
        "created": v.created_at.isoformat(),
        "created_by": v.created_by.username if v.created_by_id else None,
    }


def taste_versions(request, pk: int) -> dict:
    guide = _guide(request, pk)
    rows = guide.versions.select_related("created_by").order_by("-number")
    return {"guide": guide.pk, **paged(request, rows, "versions", version_json)}


def _rules(guide, name: str, number: int) -> list[str]:
    if number == 0:
        return []  # version 0: before the first, no rules
    version = guide.versions.filter(number=number).first()
    if version is None:
        raise FieldError(name, f"is not a version of {guide.name}: 0 (none) to {guide.versions.count()}.")
    return version.rules


def taste_diff(request, pk: int) -> dict:
    guide = _guide(request, pk)
    for name in ("from", "to"):
        if request.GET.get(name, "") == "":
            raise FieldError(name, "is needed: the version numbers to compare (0 is before the first).")
    old, new = int_query(request, "from", 0), int_query(request, "to", 0)
    changes = taste.diff(_rules(guide, "from", old), _rules(guide, "to", new))
    return {"guide": guide.pk, "from": old, "to": new, "changes": [{"op": op, "rule": r} for op, r in changes]}


# ---------------------------------------------------------------- routes and shapes

NODE = obj(
    "PlannerNode",
    **AGENT_SUMMARY["properties"],
    role={"type": "string", "enum": ["worker", "planner"]},
    parent={"type": ["integer", "null"]},
    subtask={"type": "object", "description": "a spawned agent's goal, acceptance and verify_command; {} otherwise"},
    budget=obj(
        minutes=INTEGER,
        tokens=INTEGER,
        usd=NUMBER,
        allotted={**BOOLEAN, "description": "carved from its planner's budget (else the task's)"},
        used={"type": "object", "description": "fraction used of each budget"},
    ),
    cycle={**INTEGER, "description": "a planner's: each cycle starts from a fresh context with its handoff"},
    handoff=STRING,
    finished=BOOLEAN,
    descendants=INTEGER,
    children={"type": "array", "items": {"$ref": "#/components/schemas/PlannerNode"}},
)
VERSION = obj("TasteVersion", number=INTEGER, rules=STRINGS, created=STRING, created_by={"type": ["string", "null"]})
CHANGE = obj(op={"type": "string", "enum": ["kept", "added", "removed"]}, rule=STRING)
VERSION_QUERY = {"type": "integer", "minimum": 0, "description": "a version number; 0: before the first (no rules)"}

ROUTES = [
    Route(
        "tasks/<int:pk>/tree",
        "api_task_tree",
        get=Operation(
            task_tree,
            "The task's agents as a tree: each planner with the workers and sub-planners it spawned",
            obj(task=INTEGER, roots={"type": "array", "items": NODE}),
        ),
    ),
    Route(
        "agents/<int:pk>/subtree",
        "api_agent_subtree",
        post=Operation(
            agent_subtree,
            "Pause, stop or message the agent and every agent below it; says how many it reached",
            obj(agent=INTEGER, action=STRING, reached=INTEGER),
            body=body(
                ["action"],
                action={"type": "string", "enum": ["pause", "stop", "message"]},
                text=text(20_000, description="action=message: the message"),
            ),
            errors=(409,),
            action="control",
        ),
    ),
    Route(
        "taste/<int:pk>/versions",
        "api_taste_versions",
        get=Operation(
            taste_versions,
            "A taste guide's versions, newest first (a task keeps the versions it launched with)",
            page_schema("versions", VERSION, guide=INTEGER),
            query=PAGE_QUERY,
        ),
    ),
    Route(
        "taste/<int:pk>/diff",
        "api_taste_diff",
        get=Operation(
            taste_diff,
            "What changed between two versions of a taste guide, rule by rule",
            obj(guide=INTEGER, **{"from": INTEGER, "to": INTEGER}, changes={"type": "array", "items": CHANGE}),
            query={"from": VERSION_QUERY, "to": VERSION_QUERY},
        ),
    ),
]

urlpatterns = [route.urlpattern() for route in ROUTES]
