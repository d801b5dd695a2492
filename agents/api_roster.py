"""The task form's roster generator and preview as JSON endpoints: "N agents of profile P" rows with names drawn from
a list make a roster's lines, and a roster's lines are checked as the task form checks them (agents/roster.py, the
functions the page calls). Nothing is saved: the lines go into a task's `agents` (POST /api/tasks)."""

from __future__ import annotations

from agents import roster
from agents.api_base import INTEGER, STRING, STRINGS, TEAM_REF, FieldError, Operation, Route, body, obj, request_team
from agents.forms import MAX_AGENTS, NAME_RE, TaskSpecForm

_NAME_ERRORS = ("These cannot name an agent", "Give at least one name")


def _preview_json(result: dict) -> dict:
    groups = [{"model": model, "names": names} for model, names in result["groups"]]
    return {"total": result["total"], "groups": groups, "errors": list(result["errors"])}


def roster_generate(request, data: dict) -> dict:
    team = request_team(request, data.get("team"))
    rows = [(str(row["count"]), row["model"]) for row in data["rows"]]
    for i, name in enumerate(data.get("names", [])):
        if not NAME_RE.match(name):
            raise FieldError(
                f"names[{i}]",
                "cannot name an agent: it starts with a letter and has at most 40 letters (a to z), digits, - or _.",
            )
    names = "\n".join(data["names"]) if "names" in data else roster.default_names()
    gen = roster.generate(roster.Generator(rows=rows, names=names, profiles=[]))
    for error in gen.errors:
        raise FieldError("names" if error.startswith(_NAME_ERRORS) else "rows", error, named=False)
    checked = _preview_json(roster.preview(gen.lines, team))
    if checked["errors"]:
        raise FieldError("rows", " ".join(checked["errors"]), named=False)
    return {"agents": [{"name": n, "model": m} for n, m in gen.entries], "lines": gen.lines, "preview": checked}


def roster_preview(request, data: dict) -> dict:
    team = request_team(request, data.get("team"))
    return _preview_json(roster.preview(data["lines"], team))


PREVIEW = obj(
    "RosterPreview",
    total=INTEGER,
    groups={"type": "array", "items": obj(model=STRING, names=STRINGS)},
    errors={**STRINGS, "description": "what is wrong with the lines, as the task form says it (empty: none)"},
)
ROW = body(
    ["count", "model"],
    count={"type": "integer", "minimum": 0, "maximum": MAX_AGENTS},
    model={"type": "string", "maxLength": 100, "minLength": 1, "description": "a model profile's name"},
)
_LINES_MAX = TaskSpecForm.base_fields["roster_text"].max_length

ROUTES = [
    Route(
        "roster/generate",
        "api_roster_generate",
        post=Operation(
            roster_generate,
            "Generate a roster: N agents of each profile, named from a list in its order (nothing is saved)",
            obj(
                "GeneratedRoster",
                agents={"type": "array", "items": obj(name=STRING, model=STRING)},
                lines={"type": "string", "description": "the roster as `Name = profile` lines"},
                preview=PREVIEW,
            ),
            body=body(
                ["rows"],
                team=TEAM_REF,
                rows={"type": "array", "items": ROW, "minItems": 1, "maxItems": roster.MAX_ROWS},
                names={
                    "type": "array",
                    "items": {"type": "string", "maxLength": 40},
                    "maxItems": 5000,
                    "description": "names to draw from, in order; absent: the default list",
                },
            ),
            action="edit_task",
        ),
    ),
    Route(
        "roster/preview",
        "api_roster_preview",
        post=Operation(
            roster_preview,
            "What a roster's `Name = profile` lines make: the agents by profile, or what is wrong with them",
            PREVIEW,
            body=body(["lines"], team=TEAM_REF, lines={"type": "string", "maxLength": _LINES_MAX}),
            action="edit_task",
        ),
    ),
]
urlpatterns = [route.urlpattern() for route in ROUTES]
