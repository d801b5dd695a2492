"""A message's receipt as its sender sees it: queued, then delivered (in the agent's context), then answered (the
agent's next turn). The agent page, the API's event log and the live stream all show it through this module."""

from __future__ import annotations

from agents.models import Event, Message

# the events that move a message on, and the state each moves it to
MOVES = {Event.Kind.MESSAGE_DELIVERED: Message.State.DELIVERED, Event.Kind.MESSAGE_ANSWERED: Message.State.ANSWERED}


def with_receipts(events: list[Event]) -> list[Event]:
    """Give each message event its message's state now (`receipt_state`), in one query; returns the events.

    A message row that is not found (nor one of another agent's) reads as queued: nothing says it moved on."""
    ids = {e.payload.get("message_id") for e in events if e.kind == Event.Kind.MESSAGE}
    ids = {message_id for message_id in ids if isinstance(message_id, int)}
    found = Message.objects.filter(pk__in=ids).values_list("agent_id", "pk", "state") if ids else []
    states = {(agent_id, pk): state for agent_id, pk, state in found}
    for event in events:
        if event.kind == Event.Kind.MESSAGE:
            event.receipt_state = states.get((event.agent_id, event.payload.get("message_id")), Message.State.QUEUED)
    return events


def as_shown(events: list[Event]) -> list[Event]:
    """Give each message event its state as of the events given (all of an agent's, in order), not as the message is
    now: a worker may deliver and answer it after the events were read, and the live socket then replays those
    events after the page's last seq, so a state read later would step back from "answered" to "delivered"."""
    states = {e.payload.get("message_id"): MOVES[e.kind] for e in events if e.kind in MOVES}
    for event in events:
        if event.kind == Event.Kind.MESSAGE:
            event.receipt_state = states.get(event.payload.get("message_id"), Message.State.QUEUED)
    return events


def receipt(event: Event) -> str:
    """The receipt state an event shows: its message's (a message event), the one it moves a message to (a
    delivery or an answer), or "" for any other event. A message event not given its state reads as queued."""
    if event.kind == Event.Kind.MESSAGE:
        return getattr(event, "receipt_state", Message.State.QUEUED)
    return MOVES.get(event.kind, "")
