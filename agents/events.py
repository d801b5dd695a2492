"""Group names and broadcasts. Every broadcast renders the same fragment templates the pages include."""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db.models import Count, Q, Sum
from django.template.loader import render_to_string

from agents.models import Agent, Event, TaskSpec

log = logging.getLogger(__name__)

# The web server's event loop, remembered at start-up (swarm_web/embedded.py): in the embedded mode the in-memory
# channel layer belongs to it, so broadcasts from step threads are handed to it.
main_loop: asyncio.AbstractEventLoop | None = None


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
    return task.agents.aggregate(
        tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), cost=Sum("cost_usd"), steps=Sum("steps")
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


def render_attention(task) -> str:
    """The task page's strip: who needs a person now, and what the swarm has used so far."""
    attention = task.agents.filter(status__in=Agent.ATTENTION).select_related("profile")
    return render_to_string(
        "agents/partials/attention.html", {"attention": attention, "totals": task_totals(task), "task": task}
    )


def render_header(agent: Agent, controls: bool = True) -> str:
    """The agent page's live parts outside the transcript: header (with its buttons only for those who may use
    them) and read coverage."""
    context = {"agent": agent, "oob": True, "controls": controls}
    return render_to_string("agents/partials/agent_header.html", context) + render_to_string(
        "agents/partials/agent_files.html", context
    )


def _headers(agent: Agent) -> dict:
    """The header twice: each socket forwards the one its watcher's role may use (viewers get no buttons)."""
    return {"header": render_header(agent), "header_readonly": render_header(agent, controls=False)}


def revoke_watchers(team_id: int, user_id: int) -> None:
    """A member left the team: their open sockets on its work close."""
    _send(member_group(team_id, user_id), {"type": "membership.revoked"})


def role_changed(team_id: int, user_id: int) -> None:
    _send(member_group(team_id, user_id), {"type": "membership.changed"})


def _send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = main_loop
        if loop is not None and loop.is_running():
            # embedded mode: the in-memory layer lives on the web server's loop; hand the send to it, in order
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:  # the DB log is the truth; a lost broadcast is recovered by replay on reconnect
        log.exception("broadcast to %s failed", group)


def broadcast_events(agent_id: int, seqs: list[int]) -> None:
    """Push freshly committed events of one agent to its watchers and its task's watchers."""
    agent = Agent.objects.select_related("task", "profile").get(pk=agent_id)
    events = list(Event.objects.filter(agent_id=agent_id, seq__in=seqs).order_by("seq"))
    headers = _headers(agent)
    for i, event in enumerate(events):
        message = {"type": "agent.event", "seq": event.seq, "html": render_event(event)}
        if i == len(events) - 1:
            message.update(headers)
        _send(agent_group(agent_id), message)
    _send(task_group(agent.task_id), {"type": "task.update", "html": render_card(agent) + render_attention(agent.task)})


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
    """The agent's header, read coverage and card as they are now (after a step's final write)."""
    agent = Agent.objects.select_related("task", "profile").get(pk=agent_id)
    _send(agent_group(agent_id), {"type": "agent.event", "seq": None, "html": "", **_headers(agent)})
    _send(task_group(agent.task_id), {"type": "task.update", "html": render_card(agent)})
