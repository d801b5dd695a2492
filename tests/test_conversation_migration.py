"""Upgrading a database whose agents keep their conversations on their rows: every message moves to the
conversation table, in order, and an agent resumes from exactly what it had."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from agents import conversations
from tests.unit import builders

BEFORE = [("agents", "0009_model_profile_rate_limit")]
AFTER = [("agents", "0011_agent_conversation_leaves_row")]
HISTORY = [
    {"role": "user", "content": 'Fix mean(). ünïcödé and "quotes" survive'},
    {
        "role": "assistant",
        "content": "Reading first.",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "def mean(values):\n    ..."},
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_schema(transactional_db):
    apps = migrate(BEFORE)
    yield apps
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())  # the next test gets the current schema


def test_the_migration_moves_each_conversation_into_the_table_in_order(old_schema):
    apps = old_schema
    team = apps.get_model("agents", "Team").objects.create(name="Old team")
    repo = apps.get_model("agents", "Repository").objects.create(team=team, name="r", path="/nonexistent")
    task = apps.get_model("agents", "TaskSpec").objects.create(team=team, repo=repo, title="t", goal="g")
    profile = apps.get_model("agents", "ModelProfile").objects.create(team=team, name="p", model="sim/diligent")
    Agent = apps.get_model("agents", "Agent")
    ada = Agent.objects.create(task=task, name="Ada", profile=profile, conversation=HISTORY)
    long = [{"role": "user", "content": f"message {i}"} for i in range(1500)]  # more than one batch
    grace = Agent.objects.create(task=task, name="Grace", profile=profile, conversation=long)
    idle = Agent.objects.create(task=task, name="Idle", profile=profile)

    migrate(AFTER)

    assert conversations.load(ada.pk) == HISTORY
    assert conversations.load(grace.pk) == long
    assert conversations.load(idle.pk) == []
    columns = [c.name for c in connection.introspection.get_table_description(connection.cursor(), "agents_agent")]
    assert "conversation" not in columns


def test_going_back_puts_the_conversation_back_on_the_row(old_schema):
    apps = migrate(AFTER)
    team = apps.get_model("agents", "Team").objects.create(name="New team")
    repo = apps.get_model("agents", "Repository").objects.create(team=team, name="r", path="/nonexistent")
    task = apps.get_model("agents", "TaskSpec").objects.create(team=team, repo=repo, title="t", goal="g")
    profile = apps.get_model("agents", "ModelProfile").objects.create(team=team, name="p", model="sim/diligent")
    ada = apps.get_model("agents", "Agent").objects.create(task=task, name="Ada", profile=profile)
    builders.conversation(ada.pk, HISTORY)

    apps = migrate(BEFORE)

    assert apps.get_model("agents", "Agent").objects.get(pk=ada.pk).conversation == HISTORY
