from __future__ import annotations

import pytest

from tests import factories


@pytest.fixture
def demo(transactional_db):
    """The seeded demo team and its task (8 named simulated agents)."""
    return factories.demo_team()


@pytest.fixture
def alice(demo):
    # operator: launches tasks and talks to agents
    return factories.make_user("alice", demo[0])


@pytest.fixture
def bob(demo):
    # teammate and reviewer
    return factories.make_user("bob", demo[0])


@pytest.fixture
def mallory(transactional_db):
    # another team: must see none of the demo team's objects
    other, _ = factories.demo_team("Other team")
    return factories.make_user("mallory", other)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client
