"""Whether anybody watches an agent's page right now: its live text is streamed only then (SWARM_LLM_STREAM=watched).

A streamed reply costs the process several times the CPU of a plain one (litellm parses every chunk: 29 ms against
7.5 ms a call in the fleet benchmark), and only a person on the agent's page sees the text as it comes. So a model
call streams when the agent's group has a socket in it at the moment the call starts (`live_send.watched`: the
in-memory layer's groups, or Redis's count of a group's subscribers across web processes; unknown counts as watched).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.conf import settings

from agents import events, live_send


def text_hook(agent_id: int) -> Callable[[str], None] | None:
    """A model call's `on_text`: the agent page's live text, or None (a plain call) when nobody would see it."""
    return partial(events.broadcast_streaming, agent_id) if stream_for(agent_id) else None


def stream_for(agent_id: int) -> bool:
    """Whether this agent's next model call should stream its text (SWARM_LLM_STREAM: true, false or watched)."""
    mode = settings.SWARM_LLM_STREAM
    if mode == "watched":
        return watched(agent_id)
    return bool(mode)


def watched(agent_id: int) -> bool:
    return live_send.watched(events.agent_group(agent_id))
