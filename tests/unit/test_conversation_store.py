"""An agent's conversation lives in its own table: a save writes what is new (or was compacted), only while the
worker holds the agent's lease, and an agent's card never reads it."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from agents import conversations, events
from agents.models import Agent
from tests.unit import builders

OUTPUT = "x" * 1000


def turn(i: int) -> list[dict]:
    call = {"id": f"c{i}", "type": "function", "function": {"name": "list_files", "arguments": '{"path": "."}'}}
    return [
        {"role": "assistant", "content": "Looking again.", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": f"c{i}", "content": OUTPUT},
    ]


def history(turns: int) -> list[dict]:
    return [{"role": "user", "content": "Fix mean()."}] + [m for i in range(turns) for m in turn(i)]


class Sent:
    """An execute wrapper: how many bytes of parameters the statements carried to the database."""

    def __init__(self) -> None:
        self.bytes = 0

    def __call__(self, execute, sql, params, many, context):
        rows = params if many else [params]
        self.bytes += sum(len(str(getattr(p, "obj", p))) for row in rows or () for p in (row or ()))
        return execute(sql, params, many, context)


def token_of(agent: Agent) -> int:
    return Agent.objects.values_list("fencing_token", flat=True).get(pk=agent.pk)


def test_a_turn_added_to_a_500_turn_conversation_writes_the_turn_not_the_history(agent):
    builders.conversation(agent.pk, history(500))  # ~500 KB
    conversation = conversations.load(agent.pk)
    conversation.extend(turn(500))
    sent = Sent()
    with connection.execute_wrapper(sent):
        assert conversations.save(agent.pk, token_of(agent), conversation, steps=F("steps") + 1)
    assert sent.bytes < 5_000  # the new turn is ~1.2 KB
    assert conversations.load(agent.pk) == history(501)
    agent.refresh_from_db()
    assert agent.steps == 1


def test_a_compacted_message_is_rewritten_alone(agent):
    builders.conversation(agent.pk, history(500))
    conversation = conversations.load(agent.pk)
    conversation[:] = [dict(m) for m in conversation]  # compaction hands back copies of every message
    conversation[2] = {**conversation[2], "content": "[compacted by Swarm to save context: ...]"}
    sent = Sent()
    with connection.execute_wrapper(sent):
        assert conversations.save(agent.pk, token_of(agent), conversation)
    assert sent.bytes < 2_000
    assert conversations.load(agent.pk)[2]["content"].startswith("[compacted by Swarm")
    assert len(conversations.load(agent.pk)) == 1001


def test_a_save_by_a_worker_that_lost_the_lease_writes_nothing(agent):
    builders.conversation(agent.pk, history(3))
    conversation = conversations.load(agent.pk)
    stale = token_of(agent)
    Agent.objects.filter(pk=agent.pk).update(fencing_token=F("fencing_token") + 1)  # another worker claimed it
    conversation.extend(turn(3))
    conversation[2] = {**conversation[2], "content": "compacted"}
    assert not conversations.save(agent.pk, stale, conversation, steps=F("steps") + 1)
    assert conversations.load(agent.pk) == history(3)
    agent.refresh_from_db()
    assert agent.steps == 0


def test_messages_of_a_rolled_back_save_are_written_by_the_next(agent):
    builders.conversation(agent.pk, history(2))
    conversation = conversations.load(agent.pk)
    conversation.extend(turn(2))
    with transaction.atomic():
        assert conversations.save(agent.pk, token_of(agent), conversation)
        transaction.set_rollback(True)  # e.g. an event of the same step failed
    assert conversations.load(agent.pk) == history(2)
    conversation.extend(turn(3))
    assert conversations.save(agent.pk, token_of(agent), conversation)
    assert conversations.load(agent.pk) == history(4)


def test_a_plain_list_is_saved_whole_and_replaces_a_longer_conversation(agent):
    builders.conversation(agent.pk, history(4))
    assert conversations.save(agent.pk, token_of(agent), history(2))
    assert conversations.load(agent.pk) == history(2)


@pytest.mark.parametrize("dense", [False, True])
def test_an_agent_card_and_its_broadcast_do_not_read_the_conversation(agent, dense):
    builders.conversation(agent.pk, history(50))
    if dense:  # a big roster renders each agent as a row instead of a card
        agent.task.roster = [{"name": f"a{i}", "profile": "fast"} for i in range(100)]
        agent.task.save()

    def broadcast_and_card() -> str:
        events.broadcast_state(agent.pk)
        return events.overview_frame(agent.task_id, {agent.pk})

    with CaptureQueriesContext(connection) as queries:
        card = builders.while_watched(events.agent_group(agent.pk), broadcast_and_card)  # somebody on its page
    assert agent.name in card
    assert any('"agents_agent"."status"' in q["sql"] for q in queries.captured_queries), "the broadcast reads the agent"
    assert not [q for q in queries.captured_queries if "conversation" in q["sql"].lower()]
