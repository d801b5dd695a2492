"""A message's receipt (queued, delivered, answered) reads the same on the agent page, in the API and live."""

from __future__ import annotations

import pytest

from agents import receipts, services
from agents.events import render_event
from agents.models import ApiToken, Event, Membership, Message
from tests.unit import builders


@pytest.fixture
def ada_row(team):
    # Ada as database rows only (no git, no demo): not tests/test_injection.py's launched Ada
    return builders.agent(builders.task(team))


def message_events(agent) -> list[Event]:
    return list(Event.objects.filter(agent=agent, kind="message").order_by("seq"))


def send(agent, text: str) -> Message:
    return services.inject_message(agent, text)


def test_each_message_reads_as_its_state_now(ada_row):
    first, second, third = send(ada_row, "one"), send(ada_row, "two"), send(ada_row, "three")
    Message.objects.filter(pk=first.pk).update(state=Message.State.ANSWERED)
    Message.objects.filter(pk=second.pk).update(state=Message.State.DELIVERED)
    events = receipts.with_receipts(message_events(ada_row))
    assert [receipts.receipt(e) for e in events] == ["answered", "delivered", "queued"]
    assert [e.payload["message_id"] for e in events] == [first.pk, second.pk, third.pk]


def test_a_message_that_is_not_this_agents_or_gone_reads_as_queued(ada_row, team):
    grace = builders.agent(ada_row.task, "Grace")
    theirs = send(grace, "for grace")
    Message.objects.filter(pk=theirs.pk).update(state=Message.State.ANSWERED)
    forged = Event(agent=ada_row, seq=99, kind="message", payload={"message_id": theirs.pk, "text": "?"})
    gone = Event(agent=ada_row, seq=100, kind="message", payload={"message_id": 10**9, "text": "?"})
    garbled = Event(agent=ada_row, seq=101, kind="message", payload={"message_id": "1; drop", "text": "?"})
    assert [receipts.receipt(e) for e in receipts.with_receipts([forged, gone, garbled])] == ["queued"] * 3


def test_delivery_and_answer_events_move_the_receipt_and_other_events_show_none(ada_row):
    assert receipts.receipt(Event(kind="message_delivered", payload={"message_id": 7})) == "delivered"
    assert receipts.receipt(Event(kind="message_answered", payload={"message_id": 7})) == "answered"
    assert receipts.receipt(Event(kind="model_turn", payload={})) == ""
    assert receipts.receipt(Event(kind="message", payload={"message_id": 7})) == "queued"  # not looked up yet


def test_the_live_stream_swaps_the_receipt_in_place(ada_row):
    message = send(ada_row, "hello")
    delivered = services.record_event(ada_row.pk, "message_delivered", {"message_id": message.pk, "sender": "alice"})
    html = render_event(delivered)
    assert f'<span class="receipt state-delivered" id="message-{message.pk}-receipt">delivered</span>' in html
    status = services.record_event(ada_row.pk, "status", {"status": "running", "reason": ""})
    assert "receipt" not in render_event(status)


def test_the_page_and_the_api_show_the_same_receipts(ada_row, team, client):
    alice = builders.member(team, "alice", Membership.Role.VIEWER)
    answered, queued = send(ada_row, "one"), send(ada_row, "two")
    # as the runtime does: each move of a message is written with its event
    Message.objects.filter(pk=answered.pk).update(state=Message.State.ANSWERED)
    services.record_event(
        ada_row.pk, "message_delivered", {"message_id": answered.pk, "sender": "you", "mode": "queue"}
    )
    services.record_event(ada_row.pk, "message_answered", {"message_id": answered.pk})
    client.force_login(alice)
    page = client.get(f"/agents/{ada_row.pk}/").content.decode()
    assert f'id="message-{answered.pk}-receipt">answered<' in page
    assert f'id="message-{queued.pk}-receipt">queued<' in page
    token = ApiToken.issue(alice)
    api = client.get(f"/api/agents/{ada_row.pk}/events", headers={"Authorization": f"Bearer {token}"}).json()
    states = {e["payload"]["message_id"]: e["message_state"] for e in api["events"] if e["kind"] == "message"}
    assert states == {answered.pk: "answered", queued.pk: "queued"}
