"""The roster and acceptance rules a task form and the API share."""

from __future__ import annotations

import pytest
from django import forms

from agents.forms import clean_acceptance, clean_roster


def messages(exc: pytest.ExceptionInfo) -> list[str]:
    return exc.value.messages


def test_a_valid_roster_keeps_names_and_profiles(team, profiles):
    roster = clean_roster([("ada", "fast"), ("Grace", "careful")], team)
    assert roster == [{"name": "ada", "profile": "fast"}, {"name": "Grace", "profile": "careful"}]


def test_two_agents_whose_names_share_a_branch_are_refused(team, profiles):
    with pytest.raises(forms.ValidationError) as exc:
        clean_roster([("Ada", "fast"), ("ada", "fast")], team)
    assert any("appears twice" in m for m in messages(exc))


def test_a_profile_of_another_team_is_not_offered(team, profiles, db):
    from agents.models import ModelProfile, Team

    other = Team.objects.create(name="Other")
    ModelProfile.objects.create(team=other, name="theirs", model="sim/diligent")
    with pytest.raises(forms.ValidationError) as exc:
        clean_roster([("ada", "theirs")], team)
    [message] = messages(exc)
    assert "is not a model profile of your team" in message and "theirs" not in message.split("have:")[1]


def test_every_problem_is_reported_at_once(team, profiles):
    with pytest.raises(forms.ValidationError) as exc:
        clean_roster([("1ada", "fast"), ("grace", "nope"), ("x" * 41, "fast")], team)
    assert len(messages(exc)) == 3


@pytest.mark.parametrize("name", ["../evil", "-rf", "a b", "ümlaut", ""])
def test_a_name_that_is_not_a_plain_identifier_is_refused(team, profiles, name):
    with pytest.raises(forms.ValidationError, match="starts with a letter"):
        clean_roster([(name, "fast")], team)


def test_an_empty_roster_is_refused(team, profiles):
    with pytest.raises(forms.ValidationError, match="at least one agent"):
        clean_roster([], team)


def test_acceptance_needs_one_criterion_that_is_not_blank():
    assert clean_acceptance(["  tests pass ", "", "  "]) == ["tests pass"]
    with pytest.raises(forms.ValidationError, match="at least one acceptance criterion"):
        clean_acceptance(["", "   "])
