"""The route table of what the pages do besides writing and launching tasks (agents/api_actions.py), and of API
tokens (agents/api_tokens.py): URLs under /api/, their methods and shapes; swarm_web/urls.py includes it."""

from __future__ import annotations

from agents import api_actions as act
from agents import api_schemas as schemas
from agents import api_tokens as tokens
from agents.api_base import BOOLEAN, INTEGER, STRING, STRINGS, TEAM_REF, Operation, Route, body, obj, text
from agents.api_lists import PAGE_QUERY, page_schema
from agents.bulk import ACTIONS

PANEL = obj(
    "JudgePanel",
    judges={**STRINGS, "description": "model profile names; none: the team's judge profiles"},
    rule={"type": "string", "enum": ["unanimous", "majority"]},
    auto_approve={**BOOLEAN, "description": "skip the person when verification passes and the panel is unanimous"},
)
PANEL_CHANGE = body(
    [],
    judges={"type": "array", "items": text(100, 1), "maxItems": 50},
    rule={"type": "string", "enum": ["unanimous", "majority"]},
    auto_approve=BOOLEAN,
)
ACT = body(
    ["action"],
    action={"type": "string", "enum": list(ACTIONS)},
    ids={"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 10_000},
    all={**BOOLEAN, "description": "every agent of the task (instead of ids)"},
    text=text(20_000, description="action=message: the message"),
    client_id=text(64, description="action=message: your id, so a resend queues it once per agent"),
)
ACTED = obj(
    "BulkAction",
    action=STRING,
    done=INTEGER,
    skipped={"type": "array", "items": obj(reason=STRING, count=INTEGER)},
    refused={**STRINGS, "description": "what the service refused, one line per agent"},
    summary=STRING,
)
CONTROLLED = obj("ControlledAgent", **schemas.AGENT["properties"], note=STRING)
GUIDE = obj("TasteGuide", id=INTEGER, name=STRING, rules=STRINGS)
_RULES = {"type": "array", "items": text(500, 1), "minItems": 1, "maxItems": 500}
NEW_GUIDE = body(["name", "rules"], team=TEAM_REF, name=text(100, 1), rules=_RULES)
GUIDE_CHANGE = body([], name=text(100, 1), rules=_RULES)
GUIDE_DELETED = obj(id=INTEGER, name=STRING, deleted=BOOLEAN)
REVOKED = obj(id=INTEGER, name=STRING, revoked=BOOLEAN)


def _control(verb: str, handler, summary: str, **extra) -> Route:
    op = Operation(handler, summary, CONTROLLED, errors=(409,), action="control", **extra)
    return Route(f"agents/<int:pk>/{verb}", f"api_agent_{verb}", post=op)


ROUTES = [
    Route(
        "tasks/<int:pk>/panel",
        "api_task_panel",
        get=Operation(act.task_panel, "The task's judge panel and auto-approve policy", PANEL),
        patch=Operation(
            act.task_panel_update,
            "Set the judge panel, its rule and auto-approval (team admins): the fields sent change",
            PANEL,
            body=PANEL_CHANGE,
            action="set_policy",
        ),
    ),
    Route(
        "tasks/<int:pk>/broadcast",
        "api_task_broadcast",
        post=Operation(
            act.task_broadcast,
            "Send every agent of the task that still works a message",
            obj(task=INTEGER, sent=INTEGER),
            body=body(["text"], text=text(20_000, 1)),
            errors=(409,),
            action="message",
        ),
    ),
    Route(
        "tasks/<int:pk>/stop",
        "api_task_stop",
        post=Operation(
            act.task_stop_all,
            "Stop every agent of the task (their branches are kept)",
            obj(task=INTEGER, stopped=INTEGER),
            action="control",
        ),
    ),
    Route(
        "tasks/<int:pk>/act",
        "api_task_act",
        post=Operation(
            act.task_act,
            "One action on many agents of the task: message, pause, resume, stop, grant or cleanup; says what was"
            " done to how many and why the others were left alone",
            ACTED,
            body=ACT,
            action="control",
        ),
    ),
    _control("stop", act.agent_stop, "Stop the agent; its branch is kept"),
    _control("pause", act.agent_pause, "Pause a running agent until someone resumes it"),
    _control("resume", act.agent_resume, "Resume a paused or errored agent"),
    _control("grant", act.agent_grant, "Grant an agent paused at its budget half the task's budget again; it resumes"),
    _control(
        "cleanup",
        act.agent_cleanup,
        "Remove a finished agent's worktree; its branch too when asked and merged or exported",
        body=body([], delete_branch={**BOOLEAN, "description": "delete the branch too (merged or exported only)"}),
    ),
    Route(
        "taste",
        "api_taste",
        get=Operation(act.taste_list, "Your teams' taste guides", page_schema("taste_guides", GUIDE), query=PAGE_QUERY),
        post=Operation(act.taste_create, "Write a taste guide", GUIDE, status=201, body=NEW_GUIDE, action="edit_taste"),
    ),
    Route(
        "taste/<int:pk>",
        "api_taste_guide",
        get=Operation(act.taste_detail, "A taste guide with its rules", GUIDE),
        patch=Operation(
            act.taste_update, "Change a taste guide's name or rules", GUIDE, body=GUIDE_CHANGE, action="edit_taste"
        ),
        delete=Operation(
            act.taste_delete,
            "Delete a taste guide; refused while working agents read it",
            GUIDE_DELETED,
            errors=(409,),
            action="edit_taste",
        ),
    ),
    Route(
        "tokens",
        "api_tokens",
        get=Operation(
            tokens.tokens_list,
            "Your API tokens (never the tokens themselves)",
            page_schema("tokens", tokens.TOKEN),
            query=PAGE_QUERY,
            auth="token",
        ),
        post=Operation(
            tokens.tokens_create,
            "Make a named, scoped token; the answer holds it, once",
            tokens.ISSUED,
            status=201,
            body=tokens.NEW_TOKEN,
            errors=(409,),
            auth="token",
            scope="admin",
        ),
    ),
    Route(
        "tokens/<int:pk>",
        "api_token",
        delete=Operation(
            tokens.token_revoke,
            "Revoke one of your tokens: it stops working at once",
            REVOKED,
            auth="token",
            scope="admin",
        ),
    ),
]

urlpatterns = [route.urlpattern() for route in ROUTES]
