"""A team's webhooks and a person's preferences change only through notifications/services.py: the role is checked,
a name taken meanwhile is an error on the name field (not a 500), and deleting a webhook keeps its delivery log."""

from __future__ import annotations

import pytest

from agents.errors import InvalidForm
from agents.models import Membership
from agents.permissions import Forbidden
from notifications import services
from notifications.forms import PreferenceForm, WebhookForm
from notifications.models import Delivery, Kind, Notice, Preference, Webhook
from tests.unit import builders

URL = "http://127.0.0.1:9/hook"


@pytest.fixture
def hosts(settings):
    settings.SWARM_WEBHOOK_HOSTS = ["127.0.0.1:9"]


def form(team, name: str = "ops") -> WebhookForm:
    return WebhookForm({"name": name, "url": URL, "kinds": [Kind.VERDICT]}, team=team)


def test_an_admin_adds_a_webhook_with_a_secret_of_its_own(team, hosts):
    adele = builders.member(team, "adele", Membership.Role.ADMIN)
    hook = services.create_webhook(adele, team.pk, form(team))
    assert (hook.team_id, hook.name, hook.kinds, hook.created_by) == (team.pk, "ops", [Kind.VERDICT], adele)
    assert hook.secret.startswith("whsec_") and len(hook.secret) > 30


def test_an_operator_may_not_add_one(team, hosts):
    olga = builders.member(team, "olga", Membership.Role.OPERATOR)
    with pytest.raises(Forbidden):
        services.create_webhook(olga, team.pk, form(team))
    assert not Webhook.objects.exists()


def test_a_name_another_admin_took_meanwhile_is_an_error_on_the_name_field(team, hosts):
    adele = builders.member(team, "adele", Membership.Role.ADMIN)
    mine = form(team)
    assert mine.is_valid()  # the form checked the name before the other admin's webhook was saved
    Webhook.objects.create(team=team, name="ops", url=URL, secret="whsec_theirs")
    with pytest.raises(InvalidForm) as refused:
        services.create_webhook(adele, team.pk, mine)
    assert refused.value.status == 409 and refused.value.field == "name"
    assert "already has a webhook named “ops”" in " ".join(refused.value.form.errors["name"])
    assert Webhook.objects.get().secret == "whsec_theirs"


def test_deleting_a_webhook_keeps_its_log_under_its_name_and_fails_what_still_waits(team):
    adele = builders.member(team, "adele", Membership.Role.ADMIN)
    hook = Webhook.objects.create(team=team, name="ops", url=URL, secret="whsec_x")
    notice = Notice.objects.create(team=team, kind=Kind.VERDICT, text="Ada waits for a review.", path="/")
    sent = Delivery.objects.create(team=team, channel="webhook", webhook=hook, status=Delivery.Status.DELIVERED)
    waiting = Delivery.objects.create(team=team, channel="webhook", webhook=hook)
    waiting.notices.add(notice)
    services.delete_webhook(adele, hook)
    assert not Webhook.objects.exists()
    sent.refresh_from_db()
    waiting.refresh_from_db()
    assert (sent.status, sent.recipient) == (Delivery.Status.DELIVERED, "ops (deleted)")
    assert waiting.status == Delivery.Status.FAILED and "deleted" in waiting.last_error
    assert list(waiting.notices.all()) == [notice]
    # it gets nothing more
    assert [t for t in services.recipients(team.pk, Kind.VERDICT) if t["channel"] == "webhook"] == []


def test_a_reviewer_may_not_delete_one(team):
    rita = builders.member(team, "rita", Membership.Role.REVIEWER)
    hook = Webhook.objects.create(team=team, name="ops", url=URL, secret="whsec_x")
    with pytest.raises(Forbidden):
        services.delete_webhook(rita, hook)
    assert Webhook.objects.filter(pk=hook.pk).exists()


def test_preferences_and_the_address_are_saved_together(team):
    viv = builders.member(team, "viv", Membership.Role.VIEWER)
    data = {"email_address": "viv@example.org", "email": "on", "kinds": [Kind.TASK_FINISHED]}
    services.save_preferences(viv, PreferenceForm(data))
    viv.refresh_from_db()
    assert viv.email == "viv@example.org"
    assert Preference.objects.get(user=viv).kinds == [Kind.TASK_FINISHED]
    with pytest.raises(InvalidForm):
        services.save_preferences(viv, PreferenceForm({"email_address": "not an address"}))
    viv.refresh_from_db()
    assert viv.email == "viv@example.org"
