"""The route table of what the pages do besides writing and launching tasks (agents/api_actions.py), and of API
tokens (agents/api_tokens.py): URLs under /api/, their methods and shapes; swarm_web/urls.py includes it."""

from __future__ import annotations

from agents import api_actions as act
from agents import api_actions_schemas as shapes
from agents import api_tokens as tokens
from agents.api_base import BOOLEAN, INTEGER, Operation, Route, body, obj, text
from agents.api_lists import PAGE_QUERY, page_schema


def _control(verb: str, handler, summary: str, **extra) -> Route:
    op = Operation(handler, summary, shapes.CONTROLLED, errors=(409,), action="control", **extra)
    return Route(f"agents/<int:pk>/{verb}", f"api_agent_{verb}", post=op)


ROUTES = [
    Route(
        "tasks/<int:pk>/panel",
        "api_task_panel",
        get=Operation(act.task_panel, "The task's judge panel and auto-approve policy", shapes.PANEL),
        patch=Operation(
            act.task_panel_update,
            "Set the judge panel, its rule and auto-approval (team admins): the fields sent change",
            shapes.PANEL,
            body=shapes.PANEL_CHANGE,
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
            shapes.ACTED,
            body=shapes.ACT,
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
        get=Operation(
            act.taste_list, "Your teams' taste guides", page_schema("taste_guides", shapes.GUIDE), query=PAGE_QUERY
        ),
        post=Operation(
            act.taste_create,
            "Write a taste guide",
            shapes.GUIDE,
            status=201,
            body=shapes.NEW_GUIDE,
            action="edit_taste",
        ),
    ),
    Route(
        "taste/<int:pk>",
        "api_taste_guide",
        get=Operation(act.taste_detail, "A taste guide with its rules", shapes.GUIDE),
        patch=Operation(
            act.taste_update,
            "Change a taste guide's name or rules",
            shapes.GUIDE,
            body=shapes.GUIDE_CHANGE,
            action="edit_taste",
        ),
        delete=Operation(
            act.taste_delete,
            "Delete a taste guide; refused while working agents read it",
            shapes.GUIDE_DELETED,
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
            page_schema("tokens", shapes.TOKEN),
            query=PAGE_QUERY,
            auth="token",
        ),
        post=Operation(
            tokens.tokens_create,
            "Make a named, scoped token; the answer holds it, once",
            shapes.ISSUED,
            status=201,
            body=shapes.NEW_TOKEN,
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
            shapes.REVOKED,
            auth="token",
            scope="admin",
        ),
    ),
]

urlpatterns = [route.urlpattern() for route in ROUTES]
