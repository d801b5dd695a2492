"""Charts people look at rather than read, drawn on the server as SVG: the numbers come bucketed from SQL (one query
per chart, never every event loaded), the shapes are computed here, and templates/agents/partials/chart.html draws
them with classes of static/css/swarm.css (the CSP allows no inline style).

Another app draws its own numbers with the same `Window` and `Chart` (judges: verdict outcomes), so every chart on a
page has the same time axis.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import (
    BigIntegerField,
    Count,
    DateTimeField,
    FloatField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Greatest, Trunc
from django.urls import reverse
from django.utils import timezone

from agents.fleet import STATUS_ORDER
from agents.models import Agent, Event

WIDTH, HEIGHT = 400, 170
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 22
MAX_SERIES = 6  # models beyond these are drawn as one "other"
MAX_DOTS = 30  # lines of at most this many points mark each one
# How often a page asks whether its charts changed (a 304 while not): every 5 s for a fresh task, less often as the
# window and with it the cost of drawing grow (about one new point's width per ask), at least once a minute.
POLL_SECONDS, POLL_POINTS, POLL_MAX_SECONDS = 5, 120, 60
DASHBOARD_HOURS = 24  # the dashboard's charts cover at most this much of the past
WORKING = {Agent.Status.QUEUED, Agent.Status.PREPARING, Agent.Status.RUNNING}


@dataclass(frozen=True)
class Window:
    """The time a chart covers, in buckets of one minute, hour or day (as many as fit ~3 hours, 4 days...)."""

    since: datetime
    until: datetime
    unit: str  # "minute" | "hour" | "day": what SQL truncates to

    @classmethod
    def covering(cls, since: datetime | None, until: datetime | None = None) -> Window:
        until = until or timezone.now()
        since = min(since or until, until)
        span = until - since
        unit = "minute" if span <= timedelta(hours=3) else "hour" if span <= timedelta(days=4) else "day"
        return cls(since, until, unit)

    @property
    def step(self) -> timedelta:
        return {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}[self.unit]

    def buckets(self) -> list[datetime]:
        start = timezone.localtime(self.since).replace(second=0, microsecond=0)
        if self.unit != "minute":
            start = start.replace(minute=0)
        if self.unit == "day":
            start = start.replace(hour=0)
        found = []
        while start <= self.until:
            found.append(start)
            start += self.step
        return found

    def last_share(self) -> float:
        """How much of its last bucket the window covers (a twelfth at least, so its first seconds do not swing wildly):
        the rate charts scale that bucket by it, so the minute under way does not read as a drop."""
        buckets = self.buckets()
        if not buckets:
            return 1.0
        return min(1.0, max(1 / 12, (self.until - buckets[-1]) / self.step))

    def index(self) -> dict[float, int]:
        """Each bucket's position, by its start as a timestamp (what a row's SQL bucket is looked up by)."""
        return {b.timestamp(): i for i, b in enumerate(self.buckets())}

    def trunc(self, column: str = "created_at", clamp: bool = False):
        """The SQL bucket of a row's time; `clamp`: rows before the window fall in its first bucket."""
        expression = Greatest(column, Value(self.since, output_field=DateTimeField())) if clamp else column
        return Trunc(expression, self.unit, output_field=DateTimeField())


@dataclass
class Series:
    label: str
    css: str  # the class that colours it (swarm.css: .s-0 ... .s-5, .st-<status>, .vo-<outcome>)
    values: list[float]
    shape: str = ""  # SVG points of its line or area
    dots: list[tuple[float, float]] = field(default_factory=list)  # a line's points, marked while they are few
    bars: list[tuple[float, float, float, float]] = field(default_factory=list)  # x, y, width, height


@dataclass
class Chart:
    """One chart: `kind` is "area" (stacked), "lines" or "bars" (stacked)."""

    title: str
    unit: str
    kind: str
    window: Window
    series: list[Series]
    ticks: list[tuple[float, str]] = field(default_factory=list)  # y, label
    rate: bool = False  # values per bucket: the bucket under way is drawn at its rate so far, not as a drop
    labels: list[tuple[float, str, str]] = field(default_factory=list)  # x, label, text-anchor
    width: int = WIDTH
    height: int = HEIGHT

    left: int = LEFT
    right: int = WIDTH - RIGHT

    @property
    def middle(self) -> tuple[int, int]:
        return (LEFT + WIDTH - RIGHT) // 2, (TOP + HEIGHT - BOTTOM) // 2

    @property
    def empty(self) -> bool:
        return not any(v for s in self.series for v in s.values)

    @property
    def summary(self) -> str:
        """What the chart says, for a screen reader: each series' latest value."""
        parts = [f"{s.label} {_number(s.values[-1])}" for s in self.series if s.values]
        return f"{self.title}: " + (", ".join(parts) if not self.empty else "no data yet")


def _number(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}".removesuffix(".0") + "M"
    if value >= 1_000:
        return f"{value / 1_000:.1f}".removesuffix(".0") + "k"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))


def _nice(top: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at least `top`."""
    if top <= 0:
        return 1
    scale = 10 ** len(str(int(top))) / 10 if top >= 1 else 1
    while scale > top:
        scale /= 10
    for step in (1, 2, 5, 10):
        if step * scale >= top:
            return step * scale
    return 10 * scale


def draw(chart: Chart) -> Chart:
    """Compute the chart's shapes: stacked areas or bars add up the series, lines stand alone."""
    n = len(chart.window.buckets()) if not chart.series else len(chart.series[0].values)
    share = chart.window.last_share() if chart.rate else 1.0
    drawn = {id(s): [*s.values[:-1], s.values[-1] / share] if s.values else [] for s in chart.series}
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    stacked = chart.kind in ("area", "bars")
    tops = (
        [sum(drawn[id(s)][i] for s in chart.series) for i in range(n)]
        if stacked
        else [max(drawn[id(s)]) for s in chart.series]
    )
    top = _nice(max(tops, default=0) or 0)
    y = lambda v: round(TOP + plot_h - v / top * plot_h, 1)  # noqa: E731
    band = plot_w / max(1, n)
    x = (lambda i: round(LEFT + band * (i + 0.5), 1)) if n else (lambda i: LEFT)  # noqa: E731
    base = [0.0] * n
    for s in chart.series:
        values = drawn[id(s)]
        if chart.kind == "lines":
            s.shape = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(values))
            if n <= MAX_DOTS:  # a fresh task's one or two points would draw no line at all
                s.dots = [(x(i), y(v)) for i, v in enumerate(values)]
            continue
        upper = [b + v for b, v in zip(base, values, strict=True)]
        if chart.kind == "area":
            # one bucket alone spans its band, as a bar would, rather than drawing a polygon of no width
            xs = [round(LEFT + band * 0.1, 1), round(LEFT + band * 0.9, 1)] if n == 1 else [x(i) for i in range(n)]
            up, down = (upper * 2, base * 2) if n == 1 else (upper, base)
            forward = [f"{xs[i]},{y(u)}" for i, u in enumerate(up)]
            back = [f"{xs[i]},{y(b)}" for i, b in reversed(list(enumerate(down)))]
            s.shape = " ".join(forward + back)
        else:
            s.bars = [
                (round(LEFT + band * i + band * 0.1, 1), y(u), round(band * 0.8, 1), round(y(b) - y(u), 1))
                for i, (b, u) in enumerate(zip(base, upper, strict=True))
                if u > b
            ]
        base = upper
    chart.ticks = [(y(v), _number(v)) for v in (0, top / 2, top)]
    buckets = chart.window.buckets()
    days = chart.window.until - chart.window.since > timedelta(days=1)  # hours of several days say which day
    fmt = "%b %d" if chart.window.unit == "day" else "%b %d %H:%M" if days else "%H:%M"
    picks = sorted({0, len(buckets) // 2, len(buckets) - 1}) if buckets else []
    anchors = {0: "start", len(buckets) - 1: "end"}  # the ends' labels stay inside the chart
    chart.labels = [
        (x(i), timezone.localtime(buckets[i]).strftime(fmt), anchors.get(i, "middle") if len(picks) > 1 else "middle")
        for i in picks
    ]
    return chart


def status_over_time(events: QuerySet, window: Window) -> Chart:
    """Agents by status over time, stacked. Each status change adds one agent to its new status and takes one from
    the status before it (the agent's previous status event, found through its index), counted per bucket in SQL."""
    previous = (
        Event.objects.filter(agent_id=OuterRef("agent_id"), kind=Event.Kind.STATUS, seq__lt=OuterRef("seq"))
        .order_by("-seq")
        .annotate(was=KT("payload__status"))
        .values("was")[:1]
    )
    rows = (
        events.filter(kind=Event.Kind.STATUS, created_at__lte=window.until)
        .annotate(bucket=window.trunc(clamp=True), now=KT("payload__status"), was=Subquery(previous))
        .order_by()
        .values_list("bucket", "was", "now")
        .annotate(n=Count("id"))
    )
    index = window.index()
    change = {s: [0] * len(index) for s in STATUS_ORDER}
    for bucket, was, now, n in rows:
        i = index.get(bucket.timestamp())
        if i is None:
            continue
        if now in change:
            change[now][i] += n
        if was in change:
            change[was][i] -= n
    series = []
    for status in STATUS_ORDER:
        total, values = 0, []
        for delta in change[status]:
            total += delta
            values.append(max(0, total))
        if any(values):
            series.append(Series(Agent.Status(status).label, f"st-{status}", values))
    return draw(Chart("Agents by status", "agents", "area", window, series))


def usage_over_time(events: QuerySet, window: Window) -> list[Chart]:
    """Tokens and cost per model, and steps per minute, from the model turns (one query for the three)."""
    as_int = lambda key: Coalesce(Sum(Cast(KT(f"payload__{key}"), BigIntegerField())), 0)  # noqa: E731
    rows = (
        events.filter(kind=Event.Kind.MODEL_TURN, created_at__gte=window.since, created_at__lte=window.until)
        .annotate(bucket=window.trunc())
        .order_by()
        .values_list("bucket", "agent__profile__name")
        .annotate(
            steps=Count("id"),
            tokens_in=as_int("tokens_in"),
            tokens_out=as_int("tokens_out"),
            cost=Coalesce(Sum(Cast(KT("payload__cost_usd"), FloatField())), 0.0),
        )
    )
    index = window.index()
    n = len(index)
    tokens: dict[str, list[float]] = {}
    cost: dict[str, list[float]] = {}
    steps = [0.0] * n
    for bucket, model, count, t_in, t_out, usd in rows:
        i = index.get(bucket.timestamp())
        if i is None:
            continue
        tokens.setdefault(model, [0.0] * n)[i] += t_in + t_out
        cost.setdefault(model, [0.0] * n)[i] += usd
        steps[i] += count
    minutes = window.step.total_seconds() / 60
    per_minute = [round(s / minutes, 2) for s in steps]
    ranked = sorted(tokens, key=lambda m: (-sum(tokens[m]), m))  # one order, so a model has one colour in both
    return [
        draw(Chart("Tokens per model", "tokens", "lines", window, _by_model(tokens, ranked), rate=True)),
        draw(Chart("Cost per model", "USD", "lines", window, _by_model(cost, ranked), rate=True)),
        draw(Chart("Steps per minute", "steps/min", "lines", window, [Series("steps", "s-0", per_minute)], rate=True)),
    ]


def _by_model(values: dict[str, list[float]], ranked: list[str]) -> list[Series]:
    """One series per model, the biggest spenders first; past MAX_SERIES the rest as one."""
    series = [Series(m, f"s-{i}", values[m]) for i, m in enumerate(ranked[: MAX_SERIES - 1])]
    rest = ranked[MAX_SERIES - 1 :]
    if len(rest) == 1:
        series.append(Series(rest[0], f"s-{MAX_SERIES - 1}", values[rest[0]]))
    elif rest:
        summed = [sum(values[m][i] for m in rest) for i in range(len(values[rest[0]]))]
        series.append(Series(f"{len(rest)} other models", f"s-{MAX_SERIES - 1}", summed))
    return series


def for_events(events: QuerySet, window: Window) -> list[Chart]:
    """The agents app's charts of some agents' events: status, tokens, cost, steps (two queries)."""
    return [status_over_time(events, window), *usage_over_time(events, window)]


@dataclass(frozen=True)
class Progress:
    """What some agents' charts depend on, in one aggregate query over the agents (never their events): every event,
    a verdict or a decision included, raises an agent's `next_seq`, so their sum changes whenever a chart would."""

    agents: int
    events: int
    working: bool  # some agent takes steps: the time axis moves on by itself
    open: bool  # some agent may still change (a paused one resumed, a verdict awaited): the page keeps asking
    last_finished: datetime | None

    @classmethod
    def of(cls, agents: QuerySet) -> Progress:
        row = agents.aggregate(
            n=Count("id"),
            events=Coalesce(Sum("next_seq"), 0),
            working=Count("id", filter=Q(status__in=WORKING)),
            open=Count("id", filter=~Q(status__in=Agent.FINISHED)),
            last=Max("finished_at"),
        )
        return cls(row["n"], row["events"], row["working"] > 0, row["open"] > 0, row["last"])

    def tag(self, *parts) -> str:
        """The ETag's value (without its quotes): changes when the charts would, including the minute while some
        agent works, since then the last bucket and the time axis move on."""
        minute = int(timezone.now().timestamp() // 60) if self.working else 0
        text = "|".join(map(str, (*parts, self.agents, self.events, self.working, self.open, minute)))
        return hashlib.sha256(text.encode()).hexdigest()[:24]


def task_charts(task) -> dict:
    """The task page's charts and how they keep current: from the launch to now, or to the last agent's end."""
    progress = Progress.of(task.agents.all())
    until = None
    if not progress.open and progress.last_finished:  # a margin: the last stop's event is written just after it
        until = min(progress.last_finished + timedelta(minutes=1), timezone.now())
    window = Window.covering(task.launched_at, until)
    return {
        "charts": for_events(Event.objects.filter(agent__task=task), window),
        "chart_window": window,
        "charts_team": task.team_id,
        "charts_task": task,
        **_live(progress, window, reverse("agents:task_charts", args=[task.pk]), "task", task.pk),
    }


def team_charts(team) -> dict:
    """The dashboard's charts: every task of the team, since the first launch and at most DASHBOARD_HOURS ago."""
    now = timezone.now()
    agents = Agent.objects.in_team(team)
    launched = agents.aggregate(first=Min("task__launched_at"))["first"]
    window = Window.covering(max(launched or now, now - timedelta(hours=DASHBOARD_HOURS)), now)
    return {
        "charts": for_events(Event.objects.filter(agent__in=agents), window),
        "chart_window": window,
        "charts_team": team.pk,
        **_live(Progress.of(agents), window, reverse("agents:dashboard_charts"), "team", team.pk),
    }


def _live(progress: Progress, window: Window, url: str, *parts) -> dict:
    span = (window.until - window.since).total_seconds()
    return {
        "charts_url": url,
        "charts_poll": progress.open,
        "charts_poll_seconds": int(min(POLL_MAX_SECONDS, max(POLL_SECONDS, span / POLL_POINTS))),
        "charts_tag": progress.tag(*parts),
    }
