"""The fast tier: plain functions, and the `db` fixture with tiny builders. No git, no demo fixture, no server.

`make test-fast` runs this directory with --confcutdir, so tests/conftest.py (which builds the demo) is not
loaded; everything a test here needs is defined below.
"""

from __future__ import annotations

import pytest

from agents.models import ModelProfile, Team


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
