""" "Save as skill" as a JSON endpoint: a SKILL.md drafted from an approved run through a model call
(judges/skill_draft.py, the function the page calls), for a person to edit and then publish with POST /api/skills,
sending the run's agent in `sources`. Nothing is saved here."""

from __future__ import annotations

from agents.api import _agent
from agents.api_base import INTEGER, Operation, Route, obj
from judges import skill_draft


def skill_draft_create(request, pk: int) -> dict:
    agent = _agent(request, pk)
    return {"skill_md": skill_draft.draft(request.user, agent), "sources": [agent.pk]}


ROUTES = [
    Route(
        "agents/<int:pk>/skill-draft",
        "api_agent_skill_draft",
        post=Operation(
            skill_draft_create,
            "Save as skill: draft a SKILL.md from the agent's approved run with a model (nothing is saved; publish"
            " it with POST /api/skills and these sources)",
            obj(
                "SkillDraft",
                skill_md={"type": "string", "description": "the draft, to edit: the model's text, never trusted"},
                sources={"type": "array", "items": INTEGER, "description": "the agents whose runs it was drafted from"},
            ),
            errors=(409, 502),
            action="edit_taste",
        ),
    ),
]
urlpatterns = [route.urlpattern() for route in ROUTES]
