from __future__ import annotations

import pytest

from tests import factories

# the browser tests' fixtures (`browser`, `live_app`) live with the rest of their helpers
pytest_plugins = ["tests.browser"]


@pytest.fixture
def demo(transactional_db):
    """The seeded demo team and its task (8 named simulated agents)."""
    return factories.demo_team()


@pytest.fixture
def alice(demo):
    # operator: writes and launches tasks, talks to agents, stops them, grants budget; cannot approve
    return factories.make_user("alice", demo[0], "operator")


@pytest.fixture
def bob(demo):
    # teammate and reviewer: approves and rejects work; cannot launch or message agents
    return factories.make_user("bob", demo[0], "reviewer")


@pytest.fixture
def victor(demo):
    # teammate and viewer: sees everything of the team, changes nothing
    return factories.make_user("victor", demo[0], "viewer")


@pytest.fixture
def adele(demo):
    # the team's admin: everything above, plus members, invitations, repositories, model profiles and policies
    return factories.make_user("adele", demo[0], "admin")


@pytest.fixture
def mallory(transactional_db):
    # another team (her team's admin): must see none of the demo team's objects
    other, _ = factories.demo_team("Other team")
    return factories.make_user("mallory", other, "admin")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client
