"""The JSON shapes of agents/api_actions.py's and agents/api_tokens.py's endpoints (their routes are in
agents/api_actions_urls.py)."""

from __future__ import annotations

from agents.api_base import BOOLEAN, INTEGER, STRING, STRINGS, TEAM_REF, body, obj, text
from agents.api_schemas import AGENT
from agents.bulk import ACTIONS
from agents.fleet import STATUS_FILTERS
from agents.models import ApiToken

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
    filter=body(
        [],
        status={"type": "string", "enum": STATUS_FILTERS, "description": "attention: those that wait for a person"},
        profile={"type": "integer", "minimum": 1, "description": "a model profile's id"},
        family=text(50),
        q=text(100, description="part of the agent's name or model, any case"),
    )
    | {"description": "every agent the task page's table filters keep (instead of ids; GET /api/tasks/{pk}/agents)"},
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
CONTROLLED = obj("ControlledAgent", **AGENT["properties"], note=STRING)
GUIDE = obj("TasteGuide", id=INTEGER, name=STRING, rules=STRINGS)
_RULES = {"type": "array", "items": text(500, 1), "minItems": 1, "maxItems": 500}
NEW_GUIDE = body(["name", "rules"], team=TEAM_REF, name=text(100, 1), rules=_RULES)
GUIDE_CHANGE = body([], name=text(100, 1), rules=_RULES)
GUIDE_DELETED = obj(id=INTEGER, name=STRING, deleted=BOOLEAN)
REVOKED = obj(id=INTEGER, name=STRING, revoked=BOOLEAN)

SCOPE = {
    "type": "string",
    "enum": ApiToken.Scope.values,
    "description": "read: GET only; operate: write, launch, stop, message, grant; review: approve and reject;"
    " admin: all, team setup included. Never more than the user's role in a team allows.",
}
TOKEN = obj("ApiToken", id=INTEGER, name=STRING, scope=SCOPE, created_at=STRING)
NEW_TOKEN = body(["name", "scope"], name=text(100, 1, description="what it is for, e.g. nightly CI"), scope=SCOPE)
ISSUED = obj(
    "IssuedApiToken",
    **TOKEN["properties"],
    token={"type": "string", "description": "the token itself: shown in this answer only, stored hashed"},
)
