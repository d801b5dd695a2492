"""The task page's table at fleet size: which agents one view shows (filter, sort, group, page), and the attention
queue. Each is read in a fixed number of queries, whatever the number of agents; the browser gets one page of rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from django.db.models import Case, Count, F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When, Window

from agents.models import Agent, Event
from agents.paging import page_of, query_params, query_string

PAGE_SIZE = 50
ATTENTION_SHOWN = 12  # the oldest waiters the strip names; the rest are counted
ATTENTION = "attention"  # the status filter's choice for "needs a person", besides the statuses themselves

# the statuses in the order a supervisor reads them (grouping and sorting by status): who needs a person first, then
# the others as Agent.Status declares them (a status added there joins here)
FIRST = ["error", "paused", "awaiting_review"]
STATUS_ORDER = FIRST + [s for s in Agent.Status.values if s not in FIRST]
STATUS_FILTERS = [*Agent.Status.values, ATTENTION]  # what the status filter may choose


class JSONLength(Func):
    """The length of a JSON array column (files read, files edited), in SQL."""

    function = "jsonb_array_length"  # PostgreSQL
    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="json_array_length", **extra)


def _status_rank() -> Case:
    return Case(*(When(status=s, then=Value(i)) for i, s in enumerate(STATUS_ORDER)), output_field=IntegerField())


# sort key: (column heading, what it orders by, the row's data attribute that moves a row under this sort)
SORTS: dict[str, tuple[str, object, str]] = {
    "name": ("Agent", F("name"), ""),
    "model": ("Model", F("profile__model"), ""),
    "status": ("Status", _status_rank(), "status"),
    "activity": ("Activity", F("activity"), "activity"),
    "time": ("Time", F("elapsed_seconds"), "time"),
    "tokens": ("Tokens", F("tokens_in") + F("tokens_out"), "tokens"),
    "cost": ("Cost", F("cost_usd"), "cost"),
    "read": ("Read/edited", JSONLength("files_read"), "read"),
    "nudges": ("Nudges", F("nudges"), "nudges"),
}
GROUPS = {"status": "Status", "model": "Model"}


@dataclass(frozen=True)
class TableView:
    """One view of a task's agents, as its query string says (bad values are ignored, never an error)."""

    status: str = ""  # a status, or ATTENTION
    profile: int | None = None
    family: str = ""
    q: str = ""
    sort: str = "name"
    desc: bool = False
    group: str = ""
    page: int = 1

    @classmethod
    def from_params(cls, params) -> TableView:
        status = params.get("status", "")
        profile = params.get("profile", "")
        try:
            page = max(1, int(params.get("page", "1")))
        except ValueError:
            page = 1
        return cls(
            status=status if status in STATUS_FILTERS else "",
            profile=int(profile) if profile.isdigit() else None,
            family=params.get("family", "")[:50],
            q=params.get("q", "").strip()[:100],
            sort=params.get("sort", "") if params.get("sort", "") in SORTS else "name",
            desc=params.get("desc") == "1",
            group=params.get("group", "") if params.get("group", "") in GROUPS else "",
            page=page,
        )

    def params(self, **changes) -> dict[str, str]:
        """The query string's values for this view with some changed (defaults left out)."""
        return query_params(self, **changes)

    def query(self, **changes) -> str:
        return query_string(self, **changes)

    @property
    def filtered(self) -> bool:
        return bool(self.status or self.profile or self.family or self.q)

    def apply(self, agents: QuerySet) -> QuerySet:
        """The agents this view's filters keep (any page)."""
        if self.status == ATTENTION:
            agents = agents.filter(Agent.attention_q())
        elif self.status:
            agents = agents.filter(status=self.status)
        if self.profile:
            agents = agents.filter(profile_id=self.profile)
        if self.family:
            agents = agents.filter(profile__family=self.family)
        if self.q:
            agents = agents.filter(Q(name__icontains=self.q) | Q(profile__model__icontains=self.q))
        return agents

    def ordered(self, agents: QuerySet) -> QuerySet:
        _, key, _ = SORTS[self.sort]
        order = [F("sort_key").desc() if self.desc else F("sort_key").asc(), "id"]
        agents = agents.annotate(sort_key=key)
        if self.group == "status":
            return agents.annotate(group_key=_status_rank()).order_by("group_key", *order)
        if self.group == "model":
            return agents.order_by("profile__model", "profile_id", *order)
        return agents.order_by(*order)

    @property
    def watched(self) -> str:
        """The rows' data attributes a live change of which may move a row out of its place in this view."""
        moving = {SORTS[self.sort][2]}
        if self.status or self.group == "status":
            moving.add("status")
        return " ".join(sorted(m for m in moving if m))


def _group_of(agent: Agent, group: str) -> tuple[str, str]:
    if group == "status":
        return agent.status, agent.get_status_display()
    return str(agent.profile_id), agent.profile.model


def table(task, view: TableView) -> dict:
    """What the table shows for one view: the page's rows (with a group heading where a group starts), the counts
    the filters and the groups show, and the pages. Five queries whatever the number of agents."""
    agents = Agent.objects.filter(task=task)
    by_status = dict(agents.order_by().values_list("status").annotate(n=Count("id")))
    profiles = list(
        agents.order_by("profile__name")
        .values("profile_id", "profile__name", "profile__model", "profile__family")
        .annotate(n=Count("id"))
    )
    matching = view.apply(agents)
    page = page_of(view.ordered(matching).select_related("profile"), view.page, PAGE_SIZE)
    view, rows, total, pages = replace(view, page=page.number), page.items, page.total, page.pages
    for agent in rows:
        agent.task = task  # one task row for every row's budget figures
    group_counts = {}
    if view.group == "status":
        group_counts = dict(matching.order_by().values_list("status").annotate(n=Count("id")))
    elif view.group == "model":
        group_counts = {str(k): n for k, n in matching.order_by().values_list("profile_id").annotate(n=Count("id"))}
    lines, current = [], None
    for agent in rows:
        if view.group:
            key, label = _group_of(agent, view.group)
            if key != current:
                lines.append({"group": label, "count": group_counts.get(key, 0), "key": key})
                current = key
        lines.append({"agent": agent})
    statuses = [(s, Agent.Status(s).label, by_status.get(s, 0)) for s in STATUS_ORDER if by_status.get(s)]
    return {
        "view": view,
        "lines": lines,
        "rows": rows,
        "total": total,
        "all_agents": sum(by_status.values()),
        "statuses": statuses,
        "attention_count": sum(n for s, n in by_status.items() if s in Agent.ATTENTION),
        "profiles": profiles,
        "families": sorted({p["profile__family"] for p in profiles}),
        "pages": pages,
        "first_row": page.first_index,
        "last_row": page.last_index,
        "sorts": [_sort_link(view, key, label) for key, (label, _, _) in SORTS.items()],
        "previous_page": view.query(page=view.page - 1) if view.page > 1 else None,
        "next_page": view.query(page=view.page + 1) if view.page < pages else None,
        "groups": list(GROUPS.items()),
        "client_id": uuid.uuid4().hex,  # the bulk form's: sent twice, its message is queued once
    }


def _sort_link(view: TableView, key: str, label: str) -> dict:
    """A column heading: sorts by its column, or the other way round when it already does."""
    current = view.sort == key
    state = ("descending" if view.desc else "ascending") if current else "none"
    return {
        "key": key,
        "label": label,
        "state": state,
        "query": view.query(sort=key, desc=current and not view.desc, page=1),
    }


def selection(task, params) -> QuerySet:
    """The agents of a task a bulk action names: the ids ticked by hand, or every agent the view's filters keep."""
    agents = Agent.objects.filter(task=task)
    if params.get("scope") == "filter":
        return TableView.from_params(params).apply(agents)
    return agents.filter(pk__in=selected_ids(params))


def selected_ids(params) -> set[int]:
    return {int(v) for v in params.getlist("ids") if v.isdigit()}


def waiting(agents: QuerySet) -> QuerySet:
    """Who of `agents` waits for a person, oldest wait first; each row carries the count of them all (`waiting`), and
    when its agent's latest status change happened (`waiting_since`: its wait began). The attention strip shows the
    first few; the API (GET /api/attention) pages through all."""
    since = (
        Event.objects.filter(agent_id=OuterRef("pk"), kind=Event.Kind.STATUS).order_by("-seq").values("created_at")[:1]
    )
    return (
        agents.filter(Agent.attention_q())
        .annotate(waiting_since=Subquery(since), waiting=Window(Count("id")))
        .select_related("task", "profile")
        .order_by(F("waiting_since").asc(nulls_first=True), "id")
    )


def attention_queue(agents: QuerySet, shown: int = ATTENTION_SHOWN) -> tuple[list[Agent], int]:
    """Who waits for a person, oldest wait first: (the first `shown`, how many wait in all). One query."""
    rows = list(waiting(agents)[:shown])
    return rows, (rows[0].waiting if rows else 0)
