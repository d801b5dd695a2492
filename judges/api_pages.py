"""The JSON API of what judging adds to the task and team pages: a task's attempts compared side by side (best of N,
judges/bestof.py, as the compare page shows them) with the approval that picks the winner, and the taste rules that
fail most on a task or across a team (judges/taste_stats.py, as the task and team pages show them).
swarm_web/urls.py includes its routes."""

from __future__ import annotations

from agents.api import _task, agent_summary_json
from agents.api_base import (
    BOOLEAN,
    INTEGER,
    STRING,
    TEAM_QUERY,
    FieldError,
    Operation,
    Route,
    body,
    obj,
    query_team,
    text,
)
from agents.api_lists import PAGE_QUERY, page_schema, paged
from agents.api_schemas import AGENT_SUMMARY
from agents.permissions import Forbidden, require
from judges import api, bestof, taste_stats
from judges.api_schemas import LINE_COMMENTS, VERDICT
from judges.models import Verdict

# ---------------------------------------------------------------- best of N: the attempts compared


def _review_refusal(request, team_id: int) -> str:
    """Why the caller may not approve in this team ("" when they may): their role, or their token's scope."""
    try:
        require(request.user, team_id, "review")
    except Forbidden as exc:
        return exc.message
    return ""


def _approval(verdict: Verdict | None, may_not_review: str) -> dict:
    """Whether the caller may approve the attempt now, and why not: the compare page's button and its note."""
    if verdict is None:
        return {"possible": False, "refusal": "Nothing to approve yet: the attempt has no verdict."}
    refusal = verdict.approval_refusal() or may_not_review
    return {"possible": not refusal, "refusal": refusal}


def _verdict_json(v: Verdict) -> dict:
    verify = v.evidence.get("verify") or {}
    checks = v.evidence.get("criterion_checks") or []
    return {
        "id": v.pk,
        "status": v.status,
        "recommendation": v.recommendation,
        "verification_passed": v.verification_passed,
        "verify": {"exit_code": verify.get("exit_code"), "seconds": verify.get("seconds")} if verify else None,
        "checks": [
            {
                "criterion": c.get("criterion"),
                "command": c.get("command"),
                "exit_code": c.get("exit_code"),
                "passed": c.get("exit_code") == 0,
            }
            for c in checks
        ],
        "judges": [
            {"judge": j.judge, "family": j.family, "recommendation": j.recommendation} for j in v.judgements.all()
        ],
    }


def attempt_json(attempt: bestof.Attempt, may_not_review: str) -> dict:
    a, v = attempt.agent, attempt.verdict
    return {
        "agent": {
            **agent_summary_json(a),
            "litellm_model": a.profile.model,
            "family": a.profile.family,
            "finished": a.finished,
        },
        "verdict": _verdict_json(v) if v is not None else None,
        "diff": {"added": attempt.added, "removed": attempt.removed, "files": len(attempt.diff_stat)},
        "approval": _approval(v, may_not_review),
    }


def compare(request, pk: int) -> dict:
    """A page of the task's attempts (each agent with its latest verdict), in the compare page's order."""
    task = _task(request, pk)
    answer = paged(request, task.agents.select_related("profile").order_by("id"), "attempts", lambda a: a)
    may_not_review = _review_refusal(request, task.team_id)
    shown = bestof.attempts(task, answer["attempts"], diffs=False)  # the diffs: GET /api/verdicts/{id}/diff
    answer["attempts"] = [attempt_json(a, may_not_review) for a in shown]
    return {"task": {"id": task.pk, "title": task.title, "best_of_n": task.best_of_n}, **answer}


def compare_approve(request, data: dict, pk: int) -> dict:
    """Approve one attempt's verdict, as the compare page's button does: on a best-of-N task the others are closed."""
    task = _task(request, pk)
    verdict = Verdict.objects.filter(pk=data["verdict"], agent__task=task).first()
    if verdict is None:
        raise FieldError("verdict", "is not a verdict of this task's attempts; GET the comparison for their ids.")
    approved = api.verdict_approve(request, {k: v for k, v in data.items() if k != "verdict"}, verdict.pk)
    return {"approved": approved, **compare(request, pk)}


# ---------------------------------------------------------------- the taste rules that fail most


def task_failing_rules(request, pk: int) -> dict:
    task = _task(request, pk)
    rows = taste_stats.failing_rules(task.team_id, task.pk, limit=None)
    return {"task": task.pk, **paged(request, rows, "rules", lambda r: r)}


def team_failing_rules(request) -> dict:
    team = query_team(request)
    rows = taste_stats.failing_rules(team.pk, limit=None)
    return {"team": {"id": team.pk, "name": team.name}, **paged(request, rows, "rules", lambda r: r)}


# ---------------------------------------------------------------- routes and shapes

ATTEMPT = obj(
    "Attempt",
    agent=obj(
        **AGENT_SUMMARY["properties"],
        litellm_model={**STRING, "description": "the model profile's model string"},
        family={**STRING, "description": "the model family"},
        finished=BOOLEAN,
    ),
    verdict={
        "description": "its latest verdict; null: not verified yet",
        "oneOf": [
            {"type": "null"},
            obj(
                "AttemptVerdict",
                id=INTEGER,
                status={"type": "string", "enum": Verdict.Status.values},
                recommendation={"type": "string", "enum": Verdict.Recommendation.values},
                verification_passed=BOOLEAN,
                verify={
                    "description": "the verify command's exit code and seconds; null: not run",
                    "oneOf": [
                        {"type": "null"},
                        obj(exit_code={"type": ["integer", "null"]}, seconds={"type": ["number", "null"]}),
                    ],
                },
                checks={
                    "type": "array",
                    "description": "the acceptance criteria's checks",
                    "items": obj(
                        criterion={"type": ["string", "null"]},
                        command={"type": ["string", "null"]},
                        exit_code={"type": ["integer", "null"]},
                        passed=BOOLEAN,
                    ),
                },
                judges={"type": "array", "items": obj(judge=STRING, family=STRING, recommendation=STRING)},
            ),
        ],
    },
    diff=obj(added=INTEGER, removed=INTEGER, files={**INTEGER, "description": "files changed"}),
    approval=obj(
        possible={**BOOLEAN, "description": "you may approve it now (POST /api/tasks/{pk}/compare/approve)"},
        refusal={**STRING, "description": "why not, as the page says; empty when possible"},
    ),
)
COMPARISON = page_schema(
    "attempts",
    ATTEMPT,
    task=obj(id=INTEGER, title=STRING, best_of_n={**BOOLEAN, "description": "approving one closes the others"}),
)
FAILING_RULE = obj(
    "FailingTasteRule",
    rule=STRING,
    failed={**INTEGER, "description": "judgements that scored it not met"},
    met={**INTEGER, "description": "judgements that scored it met"},
    scored={**INTEGER, "description": "judgements that scored it (not met, met or unknown)"},
    versions={
        "type": "array",
        "description": "the pinned taste guide versions that hold the rule",
        "items": obj(guide=INTEGER, name=STRING, number=INTEGER),
    },
)
_FAILING = "The taste rules judges scored not met, most often first (over the newest 2,000 judgements)"

ROUTES = [
    Route(
        "tasks/<int:pk>/compare",
        "api_task_compare",
        get=Operation(
            compare,
            "The task's attempts side by side (best of N): each agent's figures, latest verdict, diff size and whether"
            " you may approve it",
            COMPARISON,
            query=PAGE_QUERY,
        ),
    ),
    Route(
        "tasks/<int:pk>/compare/approve",
        "api_task_compare_approve",
        post=Operation(
            compare_approve,
            "Approve one attempt's verdict (best of N: the other attempts are closed); answers the comparison after it",
            obj(approved=VERDICT, **COMPARISON["properties"]),
            body=body(
                ["verdict"],
                verdict={**INTEGER, "minimum": 1, "description": "the attempt's verdict id, from the comparison"},
                comment=text(20_000),
                line_comments=LINE_COMMENTS,
            ),
            errors=(409,),
            action="review",
        ),
    ),
    Route(
        "tasks/<int:pk>/taste/failing",
        "api_task_failing_rules",
        get=Operation(
            task_failing_rules,
            f"{_FAILING}, on the task",
            page_schema("rules", FAILING_RULE, task=INTEGER),
            query=PAGE_QUERY,
        ),
    ),
    Route(
        "taste/failing",
        "api_team_failing_rules",
        get=Operation(
            team_failing_rules,
            f"{_FAILING}, across a team's tasks",
            page_schema("rules", FAILING_RULE, team=obj(id=INTEGER, name=STRING)),
            query={**PAGE_QUERY, **TEAM_QUERY},
        ),
    ),
]

urlpatterns = [route.urlpattern() for route in ROUTES]
