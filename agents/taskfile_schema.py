"""The task file's shape, defined once: the structure check of agents/taskfile.py, the JSON Schema published at
/api/taskfile.schema.json and docs/taskfile.schema.json (tests/unit checks the copy is current) come from it.

The structure only (types, names, lengths); what a task may hold is TaskSpecForm's rule, applied on import.
"""

from __future__ import annotations

from agents.api_base import TEAM_REF, body, text
from agents.api_schemas import PLANNER
from agents.forms import MAX_AGENTS

VERSION = 1
MAX_BYTES = 256 * 1024  # a task file is a page of text; a larger one is refused before it is parsed
MAX_INT = 2**31 - 1
NAMES = {"type": "array", "items": text(100, 1), "maxItems": 200}

ROSTER_ENTRY = {
    "type": ["string", "object"],
    "description": 'an agent, {"name": "Ada", "profile": "sim-diligent"} (or the line "Ada = sim-diligent"), or a'
    ' generator line "4 x sim-diligent": four agents of that profile, named from the default names list',
    "maxLength": 200,
    "properties": {"name": text(40, 1), "profile": text(100, 1, description="model profile name")},
    "required": ["name", "profile"],
    "additionalProperties": False,
}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "/api/taskfile.schema.json",
    "title": "Swarm task file",
    "description": "A task as a file (YAML or JSON): `swarm task create FILE`, POST /api/taskfiles, or Import on the"
    " tasks page. Every name (repository, taste, skills, profiles, judges) is one of the team's.",
    **body(
        ["repository", "title", "goal", "acceptance"],
        version={"type": "integer", "enum": [VERSION], "description": "the format's version (1)"},
        team=TEAM_REF,
        repository=text(100, 1, description="the team's repository, by name"),
        title=text(200, 1),
        goal=text(20_000, 1),
        context=text(20_000),
        acceptance={"type": "array", "items": text(2_000, 1), "minItems": 1, "maxItems": 200},
        verify=text(500, description="run in each agent's worktree to verify a submission; empty: the repository's"),
        taste={**NAMES, "description": "taste guide names"},
        skills={**NAMES, "description": "skill names"},
        roster={"type": "array", "items": ROSTER_ENTRY, "maxItems": MAX_AGENTS},
        planner={
            **PLANNER,
            "type": ["object", "null"],
            "description": "a planner launched instead of the roster: it splits the work and spawns named workers"
            " with profiles from `workers`; null or left out: the roster launches",
        },
        judges={**NAMES, "description": "judge model profile names; empty: the team's judge profiles"},
        rule={"type": "string", "enum": ["unanimous", "majority"], "description": "how the judges' votes combine"},
        budgets=body(
            [],
            minutes={"type": "integer", "minimum": 1, "maximum": MAX_INT, "description": "per agent"},
            tokens={"type": "integer", "minimum": 0, "maximum": MAX_INT, "description": "per agent"},
            usd={"type": "number", "minimum": 0, "maximum": 999_999, "description": "per agent"},
        ),
        policy=body(
            [],
            auto_approve={
                "type": "boolean",
                "description": "merge without a person when verification passes and the panel is unanimous (admins)",
            },
            best_of_n={
                "type": "boolean",
                "description": "every agent attempts the same spec; approving one closes the others (two agents or more)",
            },
            target_branch=text(100, description="where approved work is merged; empty: the default branch"),
        ),
    ),
}
