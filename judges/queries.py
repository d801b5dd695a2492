"""Reading verdicts at fleet size: the review queue and the history of decisions, filtered, sorted and paged.

The pages (judges/views.py) and the JSON API (judges/api.py) read the same query string through `Filters.parse`,
so a filter means the same everywhere. Each caller passes the verdicts the user may see (the page: its current
team's, `Verdict.objects.in_team`; the API: all of the token user's teams', `for_user`); nothing here changes a row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import Case, Count, IntegerField, Max, OuterRef, QuerySet, Subquery, Sum, Value, When
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.errors import FieldError
from agents.paging import query_string
from judges.models import Judgement, Verdict

PER_PAGE = 50
MAX_PER_PAGE = 200

# sort name -> (what a person reads, ORDER BY); each ends on the id, so a page never shows a row twice
QUEUE_SORTS = {
    "oldest": ("oldest first", ("created_at", "id")),
    "newest": ("newest first", ("-created_at", "-id")),
    "task": ("task", ("agent__task__title", "agent__task_id", "created_at", "id")),
    "recommendation": ("recommendation", ("recommendation_rank", "created_at", "id")),
    "disagreement": ("judges disagree most", ("-opinions", "created_at", "id")),
}
HISTORY_SORTS = {
    "newest": ("latest decision first", ("-decided_order", "-id")),
    "oldest": ("earliest decision first", ("decided_order", "id")),
    "task": ("task", ("agent__task__title", "agent__task_id", "-decided_order", "-id")),
}
OUTCOMES = {
    "approved": ("approved", [Verdict.Status.APPROVED]),
    "rejected": ("rejected", [Verdict.Status.REJECTED]),
    "superseded": ("superseded (resubmitted)", [Verdict.Status.SUPERSEDED]),
}
VERIFICATION = {"passed": "passed", "failed": "failed or not run"}


@dataclass(frozen=True)
class Filters:
    """What a person asked for in the query string; empty values mean "any"."""

    task: int | None = None
    agent: str = ""  # part of the agent's name
    recommendation: str = ""
    verification: str = ""  # passed / failed
    reviewer: str = ""  # username (history)
    outcome: str = ""  # approved / rejected / superseded (history)
    since: date | None = None  # decided on or after (history)
    until: date | None = None  # decided on or before (history)
    sort: str = ""
    page: int = 1
    per_page: int = PER_PAGE

    @classmethod
    def parse(cls, query, sorts: dict, default_sort: str = "") -> Filters:
        """Filters from a QueryDict; a malformed value is a FieldError naming its parameter (the API's 400)."""
        recommendation = query.get("recommendation", "")
        if recommendation and recommendation not in Verdict.Recommendation.values:
            raise FieldError("recommendation", f"must be one of: {', '.join(Verdict.Recommendation.values)}.")
        for name, allowed in (("verification", VERIFICATION), ("outcome", OUTCOMES), ("sort", sorts)):
            if query.get(name, "") and query.get(name) not in allowed:
                raise FieldError(name, f"must be one of: {', '.join(allowed)}.")
        return cls(
            task=_number(query, "task"),
            agent=query.get("agent", "").strip()[:100],
            recommendation=recommendation,
            verification=query.get("verification", ""),
            reviewer=query.get("reviewer", "").strip()[:150],
            outcome=query.get("outcome", ""),
            since=_day(query, "since"),
            until=_day(query, "until"),
            sort=query.get("sort", "") or default_sort or next(iter(sorts)),
            page=_number(query, "page") or 1,
            per_page=min(_number(query, "per_page") or PER_PAGE, MAX_PER_PAGE),
        )

    def query_string(self, **changes) -> str:
        """The filters as a query string (defaults left out), with some changed: links to other pages and sorts."""
        return query_string(self, **changes)

    @property
    def active(self) -> bool:
        """Whether any filter narrows the list (sorting and paging do not)."""
        return any(
            (self.task, self.agent, self.recommendation, self.verification, self.reviewer, self.outcome, self.since)
        ) or bool(self.until)


def _number(query, name: str) -> int | None:
    raw = query.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise FieldError(name, "must be a whole number.")
    return int(raw)


def _day(query, name: str) -> date | None:
    raw = query.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FieldError(name, "must be a date like 2026-11-30.") from None


def _narrowed(verdicts: QuerySet, f: Filters) -> QuerySet:
    if f.task:
        verdicts = verdicts.filter(agent__task_id=f.task)
    if f.agent:
        verdicts = verdicts.filter(agent__name__icontains=f.agent)
    if f.recommendation:
        verdicts = verdicts.filter(recommendation=f.recommendation)
    if f.verification:
        verdicts = verdicts.filter(verification_passed=f.verification == "passed")
    return verdicts


def lines(verdicts: QuerySet) -> QuerySet:
    """For one line per verdict: the diff (up to 400 kB) and the verify output stay in the database."""
    return verdicts.defer("diff", "evidence", "summary", "reasons")


def _per_verdict(judgements: QuerySet, count: Count) -> Subquery:
    """A count over each verdict's judgements as a correlated subquery: no GROUP BY over the whole list, so the
    count of a page and the rows of a page cost what an index lookup per row costs."""
    counted = judgements.filter(verdict=OuterRef("pk")).order_by().values("verdict").annotate(n=count).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _listed(verdicts: QuerySet) -> QuerySet:
    """The agent, its task and profile, the changed files, and how far the judges disagree (`opinions`: how many
    different recommendations they gave; 1 when they agree)."""
    return verdicts.select_related("agent", "agent__task", "agent__profile", "decided_by").annotate(
        diff_stat=KeyTransform("diff_stat", "evidence"),
        judges=_per_verdict(Judgement.objects.all(), Count("id")),
        opinions=_per_verdict(Judgement.objects.all(), Count("recommendation", distinct=True)),
    )


def queue(visible: QuerySet, f: Filters, statuses=(Verdict.Status.PENDING,)) -> QuerySet:
    """Pending verdicts (or those of other statuses, `None` for all), as asked. "recommendation" sorts the ones a
    person must look at first: reject and needs-a-person before approve."""
    rank = Case(
        When(recommendation=Verdict.Recommendation.REJECT, then=Value(0)),
        When(recommendation=Verdict.Recommendation.NEEDS_PERSON, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    verdicts = _narrowed(visible if statuses is None else visible.filter(status__in=statuses), f)
    return _listed(verdicts).annotate(recommendation_rank=rank).order_by(*QUEUE_SORTS[f.sort][1])


DECIDED = [Verdict.Status.APPROVED, Verdict.Status.REJECTED, Verdict.Status.SUPERSEDED]


def history(visible: QuerySet, f: Filters) -> QuerySet:
    """The team's decided verdicts (approved, rejected, or superseded by a resubmission), as asked. A superseded
    verdict has no decision time: it sorts and filters by when it was made."""
    statuses = OUTCOMES[f.outcome][1] if f.outcome else DECIDED
    verdicts = _narrowed(visible.filter(status__in=statuses), f)
    verdicts = verdicts.annotate(decided_order=Coalesce("decided_at", "created_at"))
    if f.reviewer:
        verdicts = verdicts.filter(decided_by__username=f.reviewer)
    zone = timezone.get_current_timezone()
    if f.since:
        verdicts = verdicts.filter(decided_order__gte=datetime.combine(f.since, time.min, zone))
    if f.until:
        verdicts = verdicts.filter(decided_order__lte=datetime.combine(f.until, time.max, zone))
    return _listed(verdicts).order_by(*HISTORY_SORTS[f.sort][1])


def pending_version(team_id: int | None) -> str:
    """Changes whenever the team's pending set does: a new verdict raises the highest id, a decided one lowers the
    count and the sum. One aggregate query, so that a poll that finds nothing new costs almost nothing."""
    row = Verdict.objects.in_team(team_id).pending().aggregate(n=Count("id"), top=Max("id"), total=Sum("id"))
    return f"{row['n']}-{row['top'] or 0}-{row['total'] or 0}"


def etag(*parts) -> str:
    return '"' + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:24] + '"'
