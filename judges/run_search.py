"""Search past runs: full text over the agents' transcripts, the messages people and agents sent them, the verdicts on
their work, the judges' opinions (reasons, checklist evidence) and the reviewers' decisions (comment, line comments),
filtered by task, agent, model, family and outcome.

On PostgreSQL it is PostgreSQL's full-text search (the `simple` configuration: words as written, no stemming), read
from GIN indexes on the expression it filters on; on SQLite, an FTS5 table that triggers keep up to date (both in
judges/search_index.py). Both read one query language, parsed here, so a query means the same on both and a
malformed one is refused with the reason, never sent to the database as it was typed:

    words          every word, anywhere in the text        mean median
    "a phrase"     these words in this order               "division by zero"
    word*          words that start so                     divis*
    a OR b         either (binds looser than the spaces)   mean OR median
    -word          not this word (nor -"a phrase")         mean -median
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db import DatabaseError, connection
from django.db.models import F, OuterRef, Q, Subquery

from agents.errors import FieldError
from agents.models import Agent, Message
from agents.models_conversation import ConversationEntry
from judges import search_index
from judges.models import Judgement, Review, Verdict

MAX_QUERY = 300
MAX_TERMS = 20
FTS_TABLE = search_index.TABLE  # rowid = the row's id * search_index.SPAN + its kind's code
KINDS = {"transcript": 1, "message": 2, "verdict": 3, "judgement": 4, "review": 5}
SOURCES = {
    "transcript": ConversationEntry,
    "message": Message,
    "verdict": Verdict,
    "judgement": Judgement,
    "review": Review,
}
ON_A_VERDICT = {"judgement", "review"}  # rows of a verdict: their agent is the verdict's, their page the verdict's
# What became of a run; each run has exactly one (Filters.agents):
#   approved         its work was accepted (a verdict approved and merged)
#   rejected         the last decision on its work was a rejection, and it has not submitted again since
#                    (it is reworking it, or was stopped)
#   awaiting_review  its work waits for a person's decision
#   failed           it stopped on an error
#   stopped          a person (or another attempt's approval) stopped it, its last work not rejected
#   working          queued, preparing, running or paused, its last work not rejected
OUTCOMES = {  # value: label
    "approved": "approved",
    "rejected": "rejected",
    "awaiting_review": "awaiting review",
    "failed": "failed",
    "stopped": "stopped",
    "working": "working",
}
_LIVE = [Agent.Status.QUEUED, Agent.Status.PREPARING, Agent.Status.RUNNING, Agent.Status.PAUSED]
START, STOP = "\x02", "\x03"  # around a match in a snippet, taken out again into `marks`

_TOKEN = re.compile(r'\s*(-?)(?:"([^"]*)"|([^\s"]+))')


@dataclass(frozen=True)
class Term:
    text: str
    phrase: bool = False
    prefix: bool = False


@dataclass
class Parsed:
    groups: list[list[Term]] = field(default_factory=list)  # OR of ANDs
    excluded: list[Term] = field(default_factory=list)


def parse(q: str) -> Parsed:
    """The query as terms, or a FieldError("q") saying what is wrong with it."""
    q = (q or "").strip()
    if not q:
        raise FieldError("q", "needs a word to look for.")
    if len(q) > MAX_QUERY:
        raise FieldError("q", f"is longer than {MAX_QUERY} characters.")
    if q.count('"') % 2:
        raise FieldError("q", 'has a quote that is not closed: end the phrase with ".')
    parsed, group, pending_or, count = Parsed(), [], False, 0
    for match in _TOKEN.finditer(q):
        negative, phrase, word = match.group(1) == "-", match.group(2), match.group(3)
        if word == "OR" and not negative:
            if not group:
                raise FieldError("q", "has an OR with nothing before it.")
            pending_or = True
            continue
        text = (phrase if phrase is not None else word).strip()
        prefix = phrase is None and text.endswith("*")
        text = text.rstrip("*") if prefix else text
        if not re.search(r"\w", text):
            continue  # punctuation alone: no word to find
        if prefix and not re.fullmatch(r"\w+", text):
            raise FieldError("q", "may end only a plain word with *, like divis*.")
        count += 1
        if count > MAX_TERMS:
            raise FieldError("q", f"has more than {MAX_TERMS} words and phrases; search for fewer.")
        term = Term(text, phrase is not None, prefix)
        if negative:
            parsed.excluded.append(term)
        elif pending_or or not parsed.groups:
            group = [term]
            parsed.groups.append(group)
        else:
            group.append(term)
        pending_or = False
    if pending_or:
        raise FieldError("q", "has an OR with nothing after it.")
    if not parsed.groups:
        raise FieldError("q", "needs a word to find, not only words to leave out.")
    return parsed


# ---------------------------------------------------------------- filters and results


@dataclass(frozen=True)
class Filters:
    task: int | None = None
    agent: str = ""
    model: str = ""
    family: str = ""
    outcome: str = ""
    kind: str = ""

    def agents(self, agents):
        """The agents a search may find: the caller's (already scoped) queryset with the filters."""
        if self.task is not None:
            agents = agents.filter(task_id=self.task)
        if self.agent:
            agents = agents.filter(name__icontains=self.agent)
        if self.model:
            agents = agents.filter(profile__name=self.model)
        if self.family:
            agents = agents.filter(profile__family=self.family)
        if self.outcome:
            agents = agents.alias(last_decision=Subquery(_last_decision())).filter(_outcome(self.outcome))
        return agents


def _last_decision():
    """The status of a run's latest decided verdict (None before any decision). One verdict at a time is pending,
    so a newer verdict is decided after an older one."""
    decided = [Verdict.Status.APPROVED, Verdict.Status.REJECTED]
    return Verdict.objects.filter(agent=OuterRef("pk"), status__in=decided).order_by("-id").values("status")[:1]


def _outcome(outcome: str) -> Q:
    rejected = Q(last_decision=Verdict.Status.REJECTED)
    not_rejected = Q(last_decision__isnull=True) | Q(last_decision=Verdict.Status.APPROVED)
    return {
        "approved": Q(status=Agent.Status.ACCEPTED),
        "rejected": Q(status__in=[*_LIVE, Agent.Status.STOPPED]) & rejected,
        "awaiting_review": Q(status=Agent.Status.AWAITING_REVIEW),
        "failed": Q(status=Agent.Status.ERROR),
        "stopped": Q(status=Agent.Status.STOPPED) & not_rejected,
        "working": Q(status__in=_LIVE) & not_rejected,
    }[outcome]


def filters_from(query) -> Filters:
    """The filters of a query string (the page's and the API's), each refused by name when malformed."""
    task = query.get("task", "") or ""
    if task and (not task.isdigit() or len(task) > 18):
        raise FieldError("task", "must be a task's id.")
    outcome, kind = query.get("outcome", "") or "", query.get("kind", "") or ""
    if outcome and outcome not in OUTCOMES:
        raise FieldError("outcome", f"must be one of: {', '.join(OUTCOMES)}.")
    if kind and kind not in KINDS:
        raise FieldError("kind", f"must be one of: {', '.join(KINDS)}.")
    texts = {name: (query.get(name, "") or "").strip()[:100] for name in ("agent", "model", "family")}
    return Filters(int(task) if task else None, outcome=outcome, kind=kind, **texts)


@dataclass
class Hit:
    kind: str
    id: int
    agent: Agent
    snippet: str
    marks: list[tuple[int, int]]
    verdict: int | None = None  # the verdict whose page shows it (a verdict's, a judgement's, a review's)

    @property
    def parts(self) -> list[tuple[str, bool]]:
        """The snippet as (text, is_a_match) pieces, for a template to escape and mark."""
        parts, at = [], 0
        for start, end in self.marks:
            parts += [(self.snippet[at:start], False), (self.snippet[start:end], True)]
            at = end
        return [*parts, (self.snippet[at:], False)]


def _marks(raw: str) -> tuple[str, list[tuple[int, int]]]:
    text, marks, start = [], [], None
    length = 0
    for ch in raw or "":
        if ch == START:
            start = length
        elif ch == STOP and start is not None:
            marks.append((start, length))
            start = None
        elif ch not in (START, STOP):
            text.append(ch)
            length += 1
    return "".join(text), marks


@dataclass
class Results:
    hits: list[Hit]
    total: int
    page: int
    pages: int
    per_page: int


def search(agents, q: str, filters: Filters, page: int = 1, per_page: int = 20) -> Results:
    """One page of hits, best first, among `agents` (a team-scoped queryset) with the filters."""
    parsed = parse(q)
    scope = filters.agents(agents).values("id")
    kinds = [filters.kind] if filters.kind else list(KINDS)
    try:
        if connection.vendor == "postgresql":
            found, total = _postgres(parsed, scope, kinds, page, per_page)
        else:
            found, total = _sqlite(parsed, scope, kinds, page, per_page)
    except DatabaseError:  # what the parser let through and the database still refused: said, never a 500
        raise FieldError("q", 'could not be searched as written; use words, "phrases", word*, OR and -word.') from None
    pages = max(1, -(-total // per_page))
    if found is None:  # past the end: the last page
        return search(agents, q, filters, pages, per_page)
    by_id = Agent.objects.select_related("task", "profile").in_bulk({agent_id for _, _, agent_id, _ in found})
    verdicts = {}
    for kind in ON_A_VERDICT:
        ids = [obj_id for k, obj_id, _, _ in found if k == kind]
        verdicts[kind] = dict(SOURCES[kind].objects.filter(pk__in=ids).values_list("id", "verdict_id")) if ids else {}
    hits = []
    for kind, obj_id, agent_id, raw in found:
        snippet, marks = _marks(raw)
        verdict = obj_id if kind == "verdict" else verdicts.get(kind, {}).get(obj_id)
        hits.append(Hit(kind, obj_id, by_id[agent_id], snippet, marks, verdict))
    return Results(hits, total, page, pages, per_page)


def _sqlite(parsed: Parsed, scope, kinds: list[str], page: int, per_page: int):
    match = _fts5(parsed)
    sub, params = scope.query.sql_with_params()
    codes = ", ".join(str(KINDS[k]) for k in kinds)
    where = f"{FTS_TABLE} MATCH %s AND agent_id IN ({sub}) AND kind IN ({codes})"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {FTS_TABLE} WHERE {where}", [match, *params])
        total = cursor.fetchone()[0]
        if total and (page - 1) * per_page >= total:
            return None, total
        cursor.execute(
            f"SELECT kind, obj_id, agent_id, snippet({FTS_TABLE}, 0, %s, %s, '…', 24) FROM {FTS_TABLE}"
            f" WHERE {where} ORDER BY rank LIMIT %s OFFSET %s",
            [START, STOP, match, *params, per_page, (page - 1) * per_page],
        )
        names = {code: name for name, code in KINDS.items()}
        return [(names[k], o, a, s) for k, o, a, s in cursor.fetchall()], total


def _fts5_term(term: Term) -> str:
    quoted = '"' + term.text.replace('"', '""') + '"'
    return quoted + " *" if term.prefix else quoted


def _fts5(parsed: Parsed) -> str:
    ors = " OR ".join("(" + " AND ".join(_fts5_term(t) for t in group) + ")" for group in parsed.groups)
    if not parsed.excluded:
        return ors
    return f"({ors}) NOT (" + " OR ".join(_fts5_term(t) for t in parsed.excluded) + ")"


def _pg_term(term: Term) -> SearchQuery:
    if term.prefix:
        return SearchQuery(f"{term.text.lower()}:*", search_type="raw", config="simple")
    return SearchQuery(term.text, search_type="phrase", config="simple")


def _pg_query(parsed: Parsed) -> SearchQuery:
    query = None
    for group in parsed.groups:
        both = None
        for term in group:
            both = _pg_term(term) if both is None else both & _pg_term(term)
        query = both if query is None else query | both
    for term in parsed.excluded:
        query &= ~_pg_term(term)
    return query


def pg_matches(kind: str, query: SearchQuery, scope):
    """The rows of this kind that match, among the scope's agents, with their `document` (exactly the expression
    their GIN index is on) and their `body` (for the snippet)."""
    owner = F("verdict__agent_id") if kind in ON_A_VERDICT else F("agent_id")
    return (
        SOURCES[kind]
        .objects.annotate(owner=owner)
        .filter(owner__in=scope)
        .annotate(document=search_index.pg_document(kind), body=search_index.pg_text(kind))
        .filter(document=query)
    )


def _postgres(parsed: Parsed, scope, kinds: list[str], page: int, per_page: int):
    query = _pg_query(parsed)
    rows, total, upto = [], 0, page * per_page
    for kind in kinds:
        found = pg_matches(kind, query, scope)
        total += found.count()
        best = found.annotate(rank=SearchRank(F("document"), query)).order_by("-rank", "-id")
        for row in best.annotate(
            headline=SearchHeadline("body", query, config="simple", start_sel=START, stop_sel=STOP, max_words=35)
        ).values_list("id", "owner", "headline", "rank")[:upto]:
            rows.append((row[3], kind, row[0], row[1], row[2]))
    if total and (page - 1) * per_page >= total:
        return None, total
    rows.sort(key=lambda r: (-r[0], r[1], -r[2]))
    return [
        (kind, obj_id, agent_id, headline) for _, kind, obj_id, agent_id, headline in rows[upto - per_page : upto]
    ], total
