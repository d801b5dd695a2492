"""An agent's model conversation as stored: one row per message (agents/models_conversation.py).

A step loads the conversation once (`load`), changes the list in memory (appends; compaction rewrites old tool
outputs in place), and `save`s it with its fencing token: only the messages that differ from what the table holds
are written, so a step at turn 500 writes what a step at turn 10 does. Nothing else reads the rows, so loading an
agent (for a card, a broadcast, the API) never reads its transcript. `unfinished_turn` and `skip` read and answer
the tool calls of its last model turn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from agents.models import Agent, ConversationEntry

if TYPE_CHECKING:
    from agents.llm import ToolCall  # agents.llm imports litellm: only a step needs it, not the web process's start


class Conversation(list):
    """The messages of a conversation, remembering what the table holds (as of the last committed save or the load)
    so that a save writes only the difference."""

    def __init__(self, messages=()):
        super().__init__(messages)
        self.stored: list[dict] = [dict(m) for m in self]

    def _committed(self, snapshot: list[dict]) -> None:
        self.stored = snapshot


def load(agent_id: int) -> Conversation:
    rows = ConversationEntry.objects.filter(agent_id=agent_id).order_by("position")
    return Conversation(rows.values_list("message", flat=True))


def _changes(messages: list[dict]) -> tuple[list[int], bool]:
    """The positions to write, and whether rows past the end must go. A plain list (not loaded here) is unknown:
    all of it is written."""
    stored = getattr(messages, "stored", None)
    if stored is None:
        return list(range(len(messages))), True
    # shallow copies compared by value: compaction replaces a message's content, appends add positions
    changed = [i for i, m in enumerate(messages) if i >= len(stored) or m != stored[i]]
    return changed, len(stored) > len(messages)


def save(agent_id: int, token: int, messages: list[dict], running: bool = False, **fields) -> bool:
    """Write what changed in the conversation, and `fields` on the agent, if `token` is still the agent's fencing
    token (and, when `running`, the agent still runs); returns False (and writes nothing) when another worker took
    the agent over (or a person paused or stopped it).

    Written as an upsert: after a rolled-back save, or inside a transaction not yet committed, the snapshot lags
    behind the table and the messages it does not know are simply written again.
    """
    changed, truncated = _changes(messages)
    # no savepoint of its own: the step's transaction around it stands or falls as a whole
    with transaction.atomic(savepoint=False):
        # the fence first: the update takes the agent row's lock, so a claim racing this save waits or wins
        fence = {"status": Agent.Status.RUNNING} if running else {}
        if Agent.objects.filter(pk=agent_id, fencing_token=token, **fence).update(fencing_token=token, **fields) != 1:
            return False
        if changed:
            ConversationEntry.objects.bulk_create(
                [ConversationEntry(agent_id=agent_id, position=i, message=messages[i]) for i in changed],
                update_conflicts=True,
                unique_fields=["agent", "position"],
                update_fields=["message"],
            )
        if truncated:
            ConversationEntry.objects.filter(agent_id=agent_id, position__gte=len(messages)).delete()
        if isinstance(messages, Conversation):
            snapshot = [dict(m) for m in messages]
            transaction.on_commit(lambda: messages._committed(snapshot))
    return True


def unfinished_turn(conversation: list[dict]) -> tuple[str, list[ToolCall]]:
    """The text and the unanswered tool calls of the last model turn: a command went in flight, or a crash cut that
    step short."""
    from agents import llm

    for index in range(len(conversation) - 1, -1, -1):
        message = conversation[index]
        if message.get("role") != "assistant":
            continue
        answered = {m.get("tool_call_id") for m in conversation[index + 1 :] if m.get("role") == "tool"}
        calls = []
        for raw in message.get("tool_calls") or []:
            if raw.get("id") in answered:
                continue
            fn = raw.get("function") or {}
            calls.append(llm.ToolCall.from_json(raw.get("id", ""), fn.get("name", ""), fn.get("arguments") or "{}"))
        return message.get("content") or "", calls
    return "", []


def skip(conversation: list[dict], calls: list[ToolCall], reason: str) -> None:
    """Answer calls that will not run: every call of a turn gets a result, or providers refuse the conversation."""
    for call in calls:
        conversation.append({"role": "tool", "tool_call_id": call.id, "content": reason})
