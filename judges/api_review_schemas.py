"""The JSON shapes of judges/api_review.py's endpoints (their routes are in judges/api_review_urls.py)."""

from __future__ import annotations

from agents.api_base import INTEGER, NUMBER, STRING, STRINGS, obj
from agents.api_lists import PAGE_QUERY
from judges import run_search
from judges.api_schemas import VERDICT

OPINION = obj(
    "Opinion",
    id=INTEGER,
    judge={**STRING, "description": "the judge's model profile"},
    model=STRING,
    family=STRING,
    recommendation={**STRING, "description": "approve, reject, needs_person or error"},
    checklist={"type": "array", "items": {"type": "object"}, "description": "[{kind, item, status, evidence}]"},
    reasons=STRINGS,
    error=STRING,
    checked={"type": "array", "items": {"type": "object"}, "description": "an investigating judge's tool calls"},
    tokens=INTEGER,
    cost_usd=NUMBER,
    seconds=NUMBER,
    created_at=STRING,
)
REVIEW = obj(
    "AuditRow",
    id=INTEGER,
    reviewer={"type": ["string", "null"]},
    decision={**STRING, "description": "approve, reject or withdraw"},
    comment=STRING,
    line_comments={"type": "array", "items": {"type": "object"}, "description": "[{path, line, text}] on the diff"},
    commit_sha=STRING,
    outcome={**STRING, "description": "done, merged <sha>, refused: …, conflict: …"},
    created_at=STRING,
)
VERDICT_DETAIL = obj(
    "VerdictDetail",
    **VERDICT["properties"],
    rule=STRING,
    merged_commit=STRING,
    merge_error=STRING,
    opinions={"type": "array", "items": OPINION},
    reviews={"type": "array", "items": REVIEW},
)
DIFF_FILE = obj("DiffFile", path=STRING, added=INTEGER, removed=INTEGER, text=STRING)
HIT = obj(
    "SearchHit",
    kind={
        "type": "string",
        "enum": list(run_search.KINDS),
        "description": "where the words are: transcript (what the agent read and did), message (sent to it), verdict"
        " (its summary and verification reasons), judgement (a judge's reasons and checklist evidence), review (a"
        " person's decision: comment and line comments)",
    },
    id={**INTEGER, "description": "the transcript entry's, message's, verdict's, judgement's or review's id"},
    agent=obj(id=INTEGER, name=STRING, model=STRING, family=STRING, status=STRING),
    task=obj(id=INTEGER, title=STRING),
    snippet={**STRING, "description": "the text around the match, as it was written"},
    marks={
        "type": "array",
        "items": {"type": "array", "items": INTEGER, "minItems": 2, "maxItems": 2},
        "description": "[start, end) of each match in the snippet",
    },
    url={
        **STRING,
        "description": "the page to open: the agent's (transcript, message), or the verdict's (verdict, judgement,"
        " review)",
    },
)
SEARCH_QUERY = {
    "q": {
        "type": "string",
        "maxLength": run_search.MAX_QUERY,
        "description": 'words (all of them), "a phrase", prefix*, a OR b, -word',
    },
    "task": {"type": "integer", "minimum": 1, "description": "a task's id"},
    "agent": {"type": "string", "description": "part of the agent's name, any case"},
    "model": {"type": "string", "description": "the model profile's name"},
    "family": {"type": "string", "description": "the model family"},
    "outcome": {
        "type": "string",
        "enum": list(run_search.OUTCOMES),
        "description": "what became of the run, one each: approved (work accepted), rejected (last decision a"
        " rejection, not submitted again since), awaiting_review, failed (an error), stopped, working (queued,"
        " preparing, running or paused)",
    },
    "kind": {"type": "string", "enum": list(run_search.KINDS)},
    **PAGE_QUERY,
}
PATCH = obj(verdict=INTEGER, filename=STRING, patch={**STRING, "description": "git format-patch text"})
