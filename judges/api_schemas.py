"""The JSON shapes of the judges app's API: the verdict it answers and the decision body it takes."""

from __future__ import annotations

from agents.api_base import INTEGER, STRING, STRINGS, TEAM_REF, TIME, body, obj, text
from judges import queries
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
    evidence={
        "type": "object",
        "description": "verify command, exit code and output; the diff's files; test_comparison (the base commit's"
        " run against the submission's) and test_flags (tests that no longer count)",
    },
    status={"type": "string", "enum": Verdict.Status.values},
    created_at=STRING,
    decided_at=TIME,
    decided_by={"type": ["string", "null"]},
    verification_passed={"type": "boolean", "description": "the verify command and every criterion check passed"},
)
VERDICT_PAGE = obj(
    verdicts={"type": "array", "items": VERDICT},
    page=INTEGER,
    pages=INTEGER,
    total={"type": "integer", "description": "verdicts matching the filters, over all pages"},
    per_page=INTEGER,
)
_ENUM = lambda values, description: {"type": "string", "enum": list(values), "description": description}  # noqa: E731
LIST_QUERY = {
    "status": {
        "type": "string",
        "enum": [*Verdict.Status.values, "decided", "all"],
        "default": "pending",
        "description": "decided: approved, rejected or superseded, with the history's sorts and filters",
    },
    "sort": _ENUM(
        dict.fromkeys([*queries.QUEUE_SORTS, *queries.HISTORY_SORTS]),
        "pending: oldest (default), newest, task, recommendation, disagreement; decided: newest (default), oldest, task",
    ),
    "page": {"type": "integer", "minimum": 1, "default": 1},
    "per_page": {"type": "integer", "minimum": 1, "maximum": queries.MAX_PER_PAGE, "default": queries.PER_PAGE},
    "task": {"type": "integer", "description": "a task's id"},
    "agent": {"type": "string", "description": "part of the agent's name, any case"},
    "recommendation": _ENUM(Verdict.Recommendation.values, "the panel's recommendation"),
    "verification": _ENUM(queries.VERIFICATION, "passed, or failed (which includes not run)"),
    "reviewer": {"type": "string", "description": "decided: the username of who decided"},
    "outcome": _ENUM(queries.OUTCOMES, "decided: approved, rejected or superseded"),
    "since": {"type": "string", "format": "date", "description": "decided: on or after this day"},
    "until": {"type": "string", "format": "date", "description": "decided: on or before this day"},
}
BULK_DECISION = body(
    ["ids", "decision"],
    ids={"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 100},
    decision={"type": "string", "enum": ["approve", "reject"]},
    comment=text(
        20_000, description="one comment for all; needed to reject what the panel did not recommend rejecting"
    ),
    team=TEAM_REF,
)
BULK_OUTCOME = obj(
    "BulkOutcome",
    decision=STRING,
    decided={"type": "array", "items": VERDICT},
    refused={
        "type": "array",
        "items": obj(id=INTEGER, agent={"type": ["string", "null"]}, reason=STRING),
        "description": "each verdict not decided, with why: the rule refused it, or it is not the team's",
    },
    summary=STRING,
)
LINE_COMMENTS = {
    "type": "array",
    "maxItems": 200,
    "description": "comments on lines of the diff, as the review page's: each is audited, and on reject the agent gets it",
    "items": body(
        ["path", "line", "text"],
        path=text(500, 1, description="the file's path in the diff"),
        line={"type": "integer", "minimum": 1, "description": "the line's number in the new file"},
        text=text(5_000, 1),
    ),
}
DECISION = body(
    [],
    comment=text(20_000, description="for reject: what the agent should fix (it gets this)"),
    line_comments=LINE_COMMENTS,
)
