"""The JSON shapes of the judges app's API: the verdict it answers and the decision body it takes."""

from __future__ import annotations

from agents.api_base import INTEGER, STRING, STRINGS, TIME, body, obj, text
from judges.models import Verdict

VERDICT = obj(
    "Verdict",
    id=INTEGER,
    agent=obj(id=INTEGER, name=STRING, model=STRING),
    task=obj(id=INTEGER, title=STRING),
    commit_sha=STRING,
    recommendation={"type": "string", "enum": Verdict.Recommendation.values},
    reasons=STRINGS,
    summary=STRING,
    evidence={"type": "object", "description": "verify command, exit code and output; the diff's files"},
    status={"type": "string", "enum": Verdict.Status.values},
    created_at=STRING,
    decided_at=TIME,
    decided_by={"type": ["string", "null"]},
)
DECISION = body([], comment=text(20_000, description="for reject: what the agent should fix (it gets this)"))
