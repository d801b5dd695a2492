"""Saving a task, a taste guide, or an account made by an invitation link: through a service that checks the role
and saves in one transaction, on plain `db` rows."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils import timezone

from agents import task_setup, teams
from agents.errors import InvalidForm, ServiceError
from agents.forms import TaskSpecForm, TasteGuideForm
from agents.models import Invite, Membership, TaskSpec, TasteGuide
from agents.permissions import Forbidden
from tests.unit import builders


def task_data(team, **fields) -> dict:
    repo = builders.task(team).repo
    return {
        "title": "Fix median()",
        "repo": repo.pk,
        "goal": "median([3, 1, 2]) is 2.",
        "acceptance_text": "median works\nthe tests pass",
        "roster_text": "Ada = fast\nGrace = careful",
        "budget_minutes": 10,
        "budget_tokens": 1000,
        "budget_usd": "1",
        "judge_rule": "unanimous",
        **fields,
    }


def test_a_task_names_who_wrote_it_and_keeps_that_name_when_someone_else_edits_it(team, profiles):
    alice = builders.member(team, "alice", Membership.Role.OPERATOR)
    bob = builders.member(team, "bob", Membership.Role.OPERATOR)
    task = task_setup.save_task(alice, TaskSpecForm(task_data(team), team=team))
    assert task.roster == [{"name": "Ada", "profile": "fast"}, {"name": "Grace", "profile": "careful"}]
    assert task.acceptance == ["median works", "the tests pass"]

    task_setup.save_task(bob, TaskSpecForm(task_data(team, title="Fix median() again"), instance=task, team=team))
    task.refresh_from_db()
    assert (task.title, task.created_by) == ("Fix median() again", alice)


def test_a_viewer_saves_no_task_and_no_taste_guide(team, profiles):
    victor = builders.member(team, "victor", Membership.Role.VIEWER)
    with pytest.raises(Forbidden, match="only operator or admin may write"):
        task_setup.save_task(victor, TaskSpecForm(task_data(team), team=team))
    with pytest.raises(Forbidden):
        form = TasteGuideForm({"name": "Style", "rules_text": "Small functions."}, instance=TasteGuide(team=team))
        task_setup.save_taste_guide(victor, form)
    assert not TaskSpec.objects.filter(title="Fix median()").exists()
    assert not TasteGuide.objects.exists()


def test_a_form_with_errors_saves_nothing_and_keeps_its_errors_for_the_page(team, profiles):
    alice = builders.member(team, "alice", Membership.Role.OPERATOR)
    with pytest.raises(InvalidForm) as refused:
        task_setup.save_task(alice, TaskSpecForm(task_data(team, roster_text="Ada = gpt-9"), team=team))
    assert refused.value.field == "roster_text"
    assert "“gpt-9” is not a model profile of your team" in refused.value.form.errors["roster_text"][0]
    assert not TaskSpec.objects.filter(title="Fix median()").exists()

    guide = task_setup.save_taste_guide(
        alice, TasteGuideForm({"name": "Style", "rules_text": "- Small functions.\n"}, instance=TasteGuide(team=team))
    )
    assert TasteGuide.objects.get(pk=guide.pk).rules == ["Small functions."]


def test_an_account_made_for_a_link_used_meanwhile_is_not_kept(team):
    adele = builders.member(team, "adele", Membership.Role.ADMIN)
    invite, raw = teams.create_invite(adele, team.pk, Membership.Role.REVIEWER)
    # someone else used the link between the page being shown and this form being sent
    Invite.objects.filter(pk=invite.pk).update(used_at=timezone.now())
    form = UserCreationForm({"username": "eve", "password1": "x pass 4242", "password2": "x pass 4242"})
    with pytest.raises(ServiceError) as refused:
        teams.accept_invite_as_new_user(raw, form)
    assert refused.value.status == 404
    assert not get_user_model().objects.filter(username="eve").exists()


def test_an_invitation_link_makes_the_account_and_joins_with_the_invited_role(team):
    adele = builders.member(team, "adele", Membership.Role.ADMIN)
    _, raw = teams.create_invite(adele, team.pk, Membership.Role.REVIEWER)
    form = UserCreationForm({"username": "eve", "password1": "x pass 4242", "password2": "x pass 4242"})
    membership = teams.accept_invite_as_new_user(raw, form)
    assert (membership.user.username, membership.team, membership.role) == ("eve", team, Membership.Role.REVIEWER)
    with pytest.raises(InvalidForm) as refused:  # a second account from the same page: the form's own rules first
        teams.accept_invite_as_new_user(raw, UserCreationForm({"username": "eve", "password1": "a", "password2": "b"}))
    assert refused.value.status == 400
