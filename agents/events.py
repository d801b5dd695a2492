"""Group names and broadcasts. Every broadcast renders the same fragment templates the pages include.

An agent's watchers get every event: the events one transaction committed go out as one message (`agent.events`), with
the agent's header once. A task's watchers get its cards coalesced: each commit only marks the agent's card as changed,
and `live_send.Coalescer` sends the changed cards with the attention strip a few times a second at most.

Nothing is read or rendered for a group nobody is in (`live_send.watched`): most agents of a large fleet are on
nobody's screen, and their events and headers were most of a step's broadcast cost. A socket that joins later reads
the agent's log and state (or the task's cards) after joining, so it misses nothing.
"""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.template.loader import render_to_string

from agents import fleet, live_send
from agents.models import Agent, Event, TaskSpec

log = logging.getLogger(__name__)


def agent_group(agent_id: int) -> str:
    return f"agent-{agent_id}"


def task_group(task_id: int) -> str:
    return f"task-{task_id}"


def member_group(team_id: int, user_id: int) -> str:
    """Every open socket of one user watching one team's work: told when their membership changes."""
    return f"member-{team_id}-{user_id}"


def render_event(event: Event) -> str:
    return render_to_string("agents/partials/event.html", {"event": event, "oob": True})


DENSE_FROM = 25  # agents per task from which the task page shows a table instead of cards


def render_card(agent: Agent) -> str:
    dense = len(agent.task.roster) >= DENSE_FROM
    template = "agents/partials/agent_row.html" if dense else "agents/partials/agent_card.html"
    return render_to_string(template, {"agent": agent, "oob": True})


def task_totals(task) -> dict:
    """What the task's agents used so far, and how many of them wait for a person (`waiting`)."""
    return task.agents.aggregate(
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
        cost=Sum("cost_usd"),
        steps=Sum("steps"),
        waiting=Count("id", filter=Q(status__in=Agent.ATTENTION)),
    )


def preparation(task) -> dict:
    """How far a launch's worktrees are: agents in all, with a worktree, still preparing, failed to get one."""
    return task.agents.aggregate(
        total=Count("id"),
        ready=Count("id", filter=~Q(worktree="")),
        waiting=Count("id", filter=Q(status=Agent.Status.PREPARING)),
        failed=Count("id", filter=Q(status=Agent.Status.ERROR, worktree="")),
    )


def render_preparation(task) -> str:
    """The task page's progress line while worktrees are being made (an empty, hidden element once none is)."""
    return render_to_string("agents/partials/preparation.html", {"task": task, "progress": preparation(task)})


NOBODY_WAITS = {"attention": [], "attention_total": 0, "attention_more": 0}


def attention_context(agents) -> dict:
    """The attention strip's context for some agents (a task's, a team's): the oldest waiters and how many wait."""
    waiting, total = fleet.attention_queue(agents)
    return {"attention": waiting, "attention_total": total, "attention_more": total - len(waiting)}


def render_attention(task) -> str:
    """The task page's strip: who needs a person now, oldest wait first, and what the swarm has used so far. It goes
    with every overview frame: the totals' query says whether anybody waits, and only then is the queue itself
    asked for (its query, ordered by each wait's beginning, was a tenth of a busy worker's CPU)."""
    totals = task_totals(task)
    queue = attention_context(task.agents.all()) if totals["waiting"] else NOBODY_WAITS
    return render_to_string("agents/partials/attention.html", {**queue, "totals": totals, "task": task})


def render_header(agent: Agent, controls: bool = True) -> str:
    """The agent page's live parts outside the transcript: header (with its buttons only for those who may use
    them) and read coverage."""
    context = {"agent": agent, "oob": True, "controls": controls}
    return render_to_string("agents/partials/agent_header.html", context) + render_to_string(
        "agents/partials/agent_files.html", context
    )


def _headers(agent: Agent) -> dict:
    """The header for each kind of watcher: rendered once without buttons; those who may use them get the buttons
    after it, which take the empty place the header keeps for them (by id)."""
    readonly = render_header(agent, controls=False)
    buttons = render_to_string("agents/partials/agent_controls.html", {"agent": agent, "controls": True})
    return {"header": readonly + buttons, "header_readonly": readonly}


def token_group(token_id: int) -> str:
    """Every open socket of one API token: closed when the token is revoked."""
    return f"token-{token_id}"


def revoke_token_sockets(token_id: int) -> None:
    _send(token_group(token_id), {"type": "token.revoked"})


def revoke_watchers(team_id: int, user_id: int) -> None:
    """A member left the team: their open sockets on its work close."""
    _send(member_group(team_id, user_id), {"type": "membership.revoked"})


def role_changed(team_id: int, user_id: int) -> None:
    _send(member_group(team_id, user_id), {"type": "membership.changed"})


def _send(group: str, message: dict) -> None:
    live_send.send(group, message)


class Committed:
    """What one transaction changed, by agent: the events it appended and whether the agent's row changed as its
    header shows it. It is registered as an on-commit callback once per change (a savepoint rolled back takes only its
    own registrations with it); the first to run broadcasts them all, one message per agent, the others find nothing
    left. Seqs of a rolled-back savepoint may remain: broadcasts read the log, which holds only what was committed."""

    def __init__(self) -> None:
        self.seqs: dict[int, list[int]] = {}
        self.state: set[int] = set()

    def __call__(self) -> None:
        pending, state, self.seqs, self.state = self.seqs, self.state, {}, set()
        for agent_id, seqs in pending.items():
            try:
                broadcast_events(agent_id, seqs, header=agent_id in state)
            except Exception:  # the DB log is the truth: the events are there for replay
                log.exception("broadcast of agent %s's events failed", agent_id)


def after_commit(agent_id: int, seqs: list[int], state: bool = True) -> None:
    """Broadcast these events once the transaction commits, together with the others it appends; with the agent's
    header and card when `state` (its row changed as they show it). Outside a transaction: now."""
    connection = transaction.get_connection()
    batch = next((f for _, f, _ in connection.run_on_commit if isinstance(f, Committed)), None)
    if batch is None:
        batch = Committed()
    batch.seqs.setdefault(agent_id, []).extend(seqs)
    if state:
        batch.state.add(agent_id)
    transaction.on_commit(batch)


def broadcast_events(agent_id: int, seqs: list[int], header: bool = True) -> None:
    """Push freshly committed events of one agent to its watchers, as one message (with its header when it changed);
    mark its card for the overview."""
    if not live_send.watched(agent_group(agent_id)):
        task_id = _task_of(agent_id)
        if task_id is not None:
            overview.mark(task_id, agent_id)
        return
    agent = Agent.objects.select_related("task", "profile").get(pk=agent_id)
    events = list(Event.objects.filter(agent_id=agent_id, seq__in=seqs).order_by("seq")) if seqs else []
    headers = _headers(agent) if header else {}
    if events:
        rendered = [[event.seq, render_event(event)] for event in events]
        _send(agent_group(agent_id), {"type": "agent.events", "events": rendered, **headers})
    elif headers:
        _send(agent_group(agent_id), {"type": "agent.event", "seq": None, "html": "", **headers})
    overview.mark(agent.task_id, agent_id)


def _task_of(agent_id: int) -> int | None:
    with connection.cursor() as cursor:  # (the ORM's query building cost more than the read itself)
        cursor.execute(f"SELECT task_id FROM {Agent._meta.db_table} WHERE id = %s", [agent_id])
        row = cursor.fetchone()
    return row[0] if row is not None else None


def broadcast_preparation(task_id: int) -> None:
    """The launch's progress to the task's watchers (agents.preparation sends it a few times a second at most)."""
    task = TaskSpec.objects.filter(pk=task_id).first()
    if task is not None:
        _send(task_group(task_id), {"type": "task.update", "html": render_preparation(task)})


def broadcast_streaming(agent_id: int, text: str) -> None:
    """Model text as it streams in: shown live, not stored (the finished turn is the stored event)."""
    html = render_to_string("agents/partials/streaming.html", {"agent_id": agent_id, "text": text[-4000:]})
    _send(agent_group(agent_id), {"type": "agent.event", "seq": None, "html": html})


def broadcast_state(agent_id: int) -> None:
    """The agent's header, read coverage and card as they are now."""
    broadcast_events(agent_id, [])


def overview_frame(task_id: int, agent_ids: set[int]) -> str:
    """The cards of these agents of a task as they are now, and the task's attention strip (its queries once)."""
    task = TaskSpec.objects.filter(pk=task_id).first()
    if task is None:
        return ""  # deleted meanwhile
    agents = list(Agent.objects.filter(task_id=task_id, pk__in=agent_ids).select_related("profile", "parent"))
    for agent in agents:
        agent.task = task  # one task row (and its roster) for every card, not one per card
    return "".join(render_card(a) for a in agents) + render_attention(task)


def _send_overview(task_id: int, agent_ids: set[int]) -> None:
    if not live_send.watched(task_group(task_id)):
        return  # a watcher who comes reads every card as it is then
    html = overview_frame(task_id, agent_ids)
    if html:
        # the ids too: a token's socket sends those agents as the API shows them (agents/consumers.py)
        _send(task_group(task_id), {"type": "task.update", "html": html, "agents": sorted(agent_ids)})


overview = live_send.Coalescer(_send_overview)
