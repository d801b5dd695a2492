"""Django's admin for the operator: every Swarm model is listed, filtered and searched; what changes only through the
app's services is read-only there; repositories and model profiles go through the pages' forms and services."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model

from agents import services
from agents.models import Agent, ApiToken, Event, Membership, Message, ModelProfile, Repository
from judges.models import Judgement, Review, Verdict
from tests.factories import make_repo

READ_ONLY = [Agent, Event, Message, Verdict, Judgement, Review]


@pytest.fixture
def operator_client(client, demo):
    # the operator who started the server: a superuser, and admin of the demo team (as seed_demo makes `admin`)
    user = get_user_model().objects.create_superuser("olivia", "", "pw-for-tests-123")
    Membership.objects.create(team=demo[0], user=user, role=Membership.Role.ADMIN)
    client.force_login(user)
    return client


@pytest.fixture
def launched_and_reviewed(demo):
    """The demo launched (a list of its agents), with a message to the first, a verdict, a judgement, a review."""
    team, task = demo
    agents = services.launch_task(task)
    services.inject_message(agents[0], "keep clamp() as it is", author=None)
    verdict = Verdict.objects.create(agent=agents[0], commit_sha="a" * 40, recommendation="approve", reasons=["ok"])
    Judgement.objects.create(verdict=verdict, judge="j", model="sim/judge", family="f", recommendation="approve")
    Review.objects.create(verdict=verdict, decision="approve", commit_sha="a" * 40)
    return agents


def url(model, action: str = "changelist", *args) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/" + {
        "changelist": "",
        "add": "add/",
        "change": "{}/change/",
        "delete": "{}/delete/",
    }[action].format(*args)


def test_every_swarm_model_is_in_the_admin_and_its_list_filters_and_searches(operator_client, launched_and_reviewed):
    models = [*apps.get_app_config("agents").get_models(), *apps.get_app_config("judges").get_models()]
    assert len(models) >= 15
    for model in models:
        assert admin.site.is_registered(model), f"{model.__name__} is not in the admin"
        model_admin = admin.site._registry[model]
        assert model_admin.list_display != ("__str__",), f"{model.__name__} lists only its name"
        assert model_admin.search_fields, f"{model.__name__} cannot be searched"
        listing = operator_client.get(url(model), {"q": "Ada"})
        assert listing.status_code == 200, model.__name__
    agents = operator_client.get(url(Agent), {"status__exact": "running"}).content.decode()
    assert agents.count('class="field-name"') == 8  # the demo's eight agents, running
    events = operator_client.get(url(Event), {"kind__exact": "message"}).content.decode()
    assert events.count('class="field-kind"') == 1


def test_what_changes_through_the_apps_services_is_read_only_in_the_admin(operator_client, launched_and_reviewed):
    objects = {
        Agent: launched_and_reviewed[0],
        Event: Event.objects.first(),
        Message: Message.objects.get(),
        Verdict: Verdict.objects.get(),
        Judgement: Judgement.objects.get(),
        Review: Review.objects.get(),
    }
    for model, obj in objects.items():
        assert operator_client.get(url(model, "add")).status_code == 403, model.__name__
        page = operator_client.get(url(model, "change", obj.pk))
        assert page.status_code == 200, model.__name__  # shown…
        assert 'name="_save"' not in page.content.decode(), model.__name__  # …with nothing to save
        assert operator_client.post(url(model, "change", obj.pk), {}).status_code == 403, model.__name__
        assert operator_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403, model.__name__
    assert Message.objects.get().text == "keep clamp() as it is"
    assert Event.objects.count() > 8

    # control: an API token, which nothing else depends on, may be revoked here
    token = ApiToken.objects.create(
        user=launched_and_reviewed[0].task.created_by or get_user_model().objects.first(), digest="d"
    )
    assert operator_client.post(url(ApiToken, "delete", token.pk), {"post": "yes"}).status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_a_repository_added_in_the_admin_follows_the_operators_roots_and_the_teams_roles(
    operator_client, demo, mallory, tmp_path, settings
):
    team, _ = demo
    settings.SWARM_REPO_ROOTS = [tmp_path / "allowed"]
    inside, outside = make_repo(tmp_path / "allowed" / "app", branch="trunk"), make_repo(tmp_path / "outside")

    refused = operator_client.post(url(Repository, "add"), {"team": team.pk, "name": "app", "path": str(outside)})
    assert refused.status_code == 200
    assert "is outside the directories this server allows repositories in" in refused.content.decode()

    theirs = Membership.objects.get(user=mallory).team  # a team the operator is not a member of
    refused = operator_client.post(url(Repository, "add"), {"team": theirs.pk, "name": "app", "path": str(inside)})
    assert "You are not a member of this team; only admin may add repositories." in refused.content.decode()
    assert not Repository.objects.filter(name="app").exists()

    added = operator_client.post(url(Repository, "add"), {"team": team.pk, "name": "app", "path": str(inside)})
    assert added.status_code == 302
    repo = Repository.objects.get(name="app")
    assert (repo.team, repo.path, repo.default_branch) == (team, str(inside), "trunk")  # read from the repository

    # a change keeps the path and the team, like the page
    changed = operator_client.post(url(Repository, "change", repo.pk), {"name": "app2", "path": "/etc"})
    assert changed.status_code == 302
    repo.refresh_from_db()
    assert (repo.name, repo.path, repo.team) == ("app2", str(inside), team)
    assert operator_client.post(url(Repository, "delete", repo.pk), {"post": "yes"}).status_code == 403


def test_a_model_profile_added_in_the_admin_takes_only_the_operators_key_variables(operator_client, demo):
    team, _ = demo
    page = operator_client.get(url(ModelProfile, "add")).content.decode()
    select = re.search(r'<select name="api_key_env".*?</select>', page, re.S).group(0)
    assert "SWARM_TEST_KEY" in select and "HOME" not in select

    fields = {"team": team.pk, "name": "gpt", "model": "openai/gpt-4o", "api_key_env": "HOME"}
    refused = operator_client.post(url(ModelProfile, "add"), fields)
    assert "names a variable the operator does not allow for model keys" in refused.content.decode()
    assert not ModelProfile.objects.filter(name="gpt").exists()

    added = operator_client.post(url(ModelProfile, "add"), {**fields, "api_key_env": "OPENAI_API_KEY"})
    assert added.status_code == 302
    assert ModelProfile.objects.get(name="gpt").family == "openai"

    again = operator_client.post(url(ModelProfile, "add"), {**fields, "api_key_env": "OPENAI_API_KEY"})
    assert again.status_code == 200 and ModelProfile.objects.filter(name="gpt").count() == 1  # the name is taken
