"""The fast tier: plain functions, and the `db` fixture with tiny builders. No git, no demo fixture, no server.

`make test-fast` runs this directory with --confcutdir, so tests/conftest.py (which builds the demo) is not
loaded; everything a test here needs is defined below.
"""

from __future__ import annotations

import pytest

from agents.models import Agent, ModelProfile, Repository, TaskSpec, Team


@pytest.fixture
def team(db):
    return Team.objects.create(name="Unit team")


@pytest.fixture
def profiles(team):
    """Two model profiles of the team: `fast` and `careful`."""
    return [
        ModelProfile.objects.create(team=team, name="fast", model="sim/diligent"),
        ModelProfile.objects.create(team=team, name="careful", model="sim/diligent"),
    ]


@pytest.fixture
def agent(team, profiles) -> Agent:
    """Ada, running on `fast`, in a task of 30 minutes and 200,000 tokens. Her repository is only a name: no git."""
    repo = Repository.objects.create(team=team, name="mathutil", path="/nonexistent/mathutil")
    task = TaskSpec.objects.create(team=team, repo=repo, title="Fix mean()", goal="mean([2, 4, 6]) is 4.")
    return Agent.objects.create(task=task, name="Ada", profile=profiles[0], status=Agent.Status.RUNNING)
