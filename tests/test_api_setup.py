"""A team's setup through the JSON API, as its pages do it: change and remove repositories and model profiles, test a
profile's connection, members and their roles, invitation links, webhooks and their log, and a person's notification
preferences. Team setup is for admins with a token of scope admin; refusals say why and change nothing; secrets
(an invitation's link, a webhook's secret, a model key) are in the one answer that makes them, or never again."""

from __future__ import annotations

import re

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agents import teams
from agents.models import Invite, Membership, ModelProfile, Repository
from notifications import services as notify
from notifications.models import Kind, Preference, Webhook
from tests.api_client import Api, scoped_token
from tests.openai_server import reply, status

# ---------------------------------------------------------------- repositories and model profiles


def test_an_admin_changes_and_removes_a_repository_and_its_path_stays(client, adele, alice, demo):
    team, task = demo
    admin = Api(client, scoped_token("adele", "admin"))
    spare = Repository.objects.create(team=team, name="spare", path=task.repo.path)

    changed = admin.patch(f"/api/repos/{spare.pk}", {"name": "spare-2", "verify_command": "make check"})
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["name"], changed.json()["verify_command"]) == ("spare-2", "make check")
    spare.refresh_from_db()
    assert (spare.name, spare.verify_command, spare.path) == ("spare-2", "make check", task.repo.path)

    moved = admin.patch(f"/api/repos/{spare.pk}", {"path": "/etc"})
    assert moved.status_code == 400 and moved.json()["field"] == "path"
    taken = admin.patch(f"/api/repos/{spare.pk}", {"name": task.repo.name})
    assert taken.status_code == 409 and taken.json()["field"] == "name"

    operator = Api(client, scoped_token("alice", "admin"))  # an operator: the admin scope never widens the role
    refused = operator.delete(f"/api/repos/{spare.pk}")
    assert refused.status_code == 403 and "only admin may add repositories" in refused.json()["error"]
    in_use = admin.delete(f"/api/repos/{task.repo.pk}")
    assert in_use.status_code == 409 and "delete them first" in in_use.json()["error"]
    assert admin.delete(f"/api/repos/{spare.pk}").json() == {"id": spare.pk, "name": "spare-2", "deleted": True}
    assert not Repository.objects.filter(pk=spare.pk).exists() and Repository.objects.filter(pk=task.repo.pk).exists()


def test_an_admin_changes_a_model_profile_field_by_field_and_deletes_an_unused_one(client, adele, demo, canary):
    team, _ = demo
    admin = Api(client, scoped_token("adele", "admin"))
    looper = ModelProfile.objects.get(team=team, name="sim-looper")
    assert admin.get(f"/api/models/{looper.pk}").json()["model"] == looper.model

    changed = admin.patch(f"/api/models/{looper.pk}", {"requests_per_minute": 30, "input_usd_per_mtok": 0.5})
    assert changed.status_code == 200, changed.json()
    looper.refresh_from_db()
    assert (looper.requests_per_minute, float(looper.input_usd_per_mtok), looper.model) == (30, 0.5, "sim/looper")

    renamed = admin.patch(f"/api/models/{looper.pk}", {"name": "other"})
    assert renamed.status_code == 400 and renamed.json()["field"] == "name"
    pasted = admin.patch(f"/api/models/{looper.pk}", {"api_key_env": canary})  # a key pasted where its name goes
    assert pasted.status_code == 400 and pasted.json()["field"] == "api_key_env"
    assert canary not in pasted.content.decode()
    assert ModelProfile.objects.get(pk=looper.pk).api_key_env == looper.api_key_env

    operate = Api(client, scoped_token("adele", "operate"))
    refused = operate.delete(f"/api/models/{looper.pk}")
    assert refused.status_code == 403 and "use a token of scope admin" in refused.json()["error"]
    assert admin.delete(f"/api/models/{looper.pk}").json()["deleted"] is True
    assert not ModelProfile.objects.filter(pk=looper.pk).exists()


def test_test_connection_calls_the_model_once_and_never_shows_the_key(client, adele, demo, server, canary):
    team, _ = demo
    profile = ModelProfile.objects.create(
        team=team, name="local", model="openai/test-model", api_base=server.base_url, api_key_env="SWARM_TEST_KEY"
    )
    admin = Api(client, scoped_token("adele", "admin"))
    server.script(reply("Hello from the test server."))
    works = admin.post(f"/api/models/{profile.pk}/test", {})
    assert works.status_code == 200, works.json()
    assert works.json()["ok"] is True and works.json()["answer"] == "Hello from the test server."
    assert server.requests[0].headers["authorization"] == f"Bearer {canary}"

    server.script(status(401, f"Incorrect API key provided: {canary}."))
    fails = admin.post(f"/api/models/{profile.pk}/test", {"model": "openai/other-model"})
    assert fails.json()["ok"] is False and "Incorrect API key provided: [redacted]." in fails.json()["error"]
    assert canary not in fails.content.decode()
    assert server.requests[1].body["model"] == "other-model" and len(server.requests) == 2
    assert ModelProfile.objects.get(pk=profile.pk).model == "openai/test-model"  # the change was not saved


def test_test_connection_for_a_profile_not_saved_yet_saves_nothing(client, adele, demo, server, canary):
    admin = Api(client, scoped_token("adele", "admin"))
    fields = {
        "name": "draft",
        "model": "openai/test-model",
        "api_base": server.base_url,
        "api_key_env": "SWARM_TEST_KEY",
    }
    server.script(reply("Hello from the test server."))
    works = admin.post("/api/models/test", fields)
    assert works.status_code == 200, works.json()
    assert works.json()["ok"] is True and works.json()["answer"] == "Hello from the test server."
    assert works.json()["profile"] == "draft"
    assert server.requests[0].headers["authorization"] == f"Bearer {canary}"
    assert not ModelProfile.objects.filter(name="draft").exists()

    pasted = admin.post("/api/models/test", {**fields, "api_key_env": canary})  # a key where its name goes
    assert pasted.status_code == 400 and pasted.json()["field"] == "api_key_env"
    assert canary not in pasted.content.decode() and len(server.requests) == 1
    operate = Api(client, scoped_token("adele", "operate"))
    assert operate.post("/api/models/test", fields).status_code == 403
    assert len(server.requests) == 1


# ---------------------------------------------------------------- members and invitations


def test_an_admin_lists_members_changes_a_role_and_the_team_keeps_an_admin(client, adele, alice, victor, demo):
    admin = Api(client, scoped_token("adele", "admin"))
    listed = admin.get("/api/members", {"per_page": 2})
    assert listed.status_code == 200
    assert [m["username"] for m in listed.json()["members"]] == ["adele", "alice"] and listed.json()["total"] == 3
    victors = Membership.objects.get(user=victor)
    adeles = Membership.objects.get(user=adele)

    promoted = admin.patch(f"/api/members/{victors.pk}", {"role": "reviewer"})
    assert promoted.json() == {"id": victors.pk, "team": victors.team_id, "username": "victor", "role": "reviewer"}
    wrong = admin.patch(f"/api/members/{victors.pk}", {"role": "owner"})
    assert wrong.status_code == 400 and wrong.json()["field"] == "role"
    last = admin.patch(f"/api/members/{adeles.pk}", {"role": "viewer"})
    assert last.status_code == 409 and "at least one admin" in last.json()["error"]

    viewer = Api(client, scoped_token("alice", "admin"))
    refused = viewer.delete(f"/api/members/{victors.pk}")
    assert refused.status_code == 403 and "only admin may invite, remove" in refused.json()["error"]
    assert admin.delete(f"/api/members/{victors.pk}").json()["removed"] is True
    assert not Membership.objects.filter(pk=victors.pk).exists()
    assert Api(client, scoped_token("victor", "read")).get("/api/tasks").status_code == 403


def test_an_invitation_link_is_shown_once_works_once_and_can_be_revoked(client, adele, demo):
    admin = Api(client, scoped_token("adele", "admin"))
    made = admin.post("/api/invites", {"role": "reviewer"})
    assert made.status_code == 201, made.json()
    link = made.json()["link"]
    raw = link.rstrip("/").rsplit("/", 1)[1]
    assert link.startswith("http://testserver/invites/") and teams.find_invite(raw).role == "reviewer"
    listed = admin.get("/api/invites").json()
    assert [i["id"] for i in listed["invites"]] == [made.json()["id"]] and raw not in str(listed)
    assert raw not in str(Invite.objects.values())  # stored hashed

    assert admin.delete(f"/api/invites/{made.json()['id']}").json() == {"id": made.json()["id"], "revoked": True}
    assert client.get(f"/invites/{raw}/").status_code == 404
    assert admin.get("/api/invites").json()["invites"] == []


def test_only_open_invitations_are_listed_in_as_many_queries_however_many_have_closed(client, adele, demo):
    team, _ = demo
    admin, page = Api(client, scoped_token("adele", "admin")), Client()
    page.force_login(adele)
    first, _ = teams.create_invite(adele, team.pk, "reviewer")

    def counted(get):
        with CaptureQueriesContext(connection) as done:
            response = get()
        assert response.status_code == 200
        return len(done), response

    one_api, _ = counted(lambda: admin.get("/api/invites"))
    one_page, _ = counted(lambda: page.get(reverse("agents:team")))
    for _ in range(5):
        used, _ = teams.create_invite(adele, team.pk, "viewer")
        Invite.objects.filter(pk=used.pk).update(used_at=timezone.now())
        revoked, _ = teams.create_invite(adele, team.pk, "viewer")
        teams.revoke_invite(adele, team.pk, revoked.pk)
    second, _ = teams.create_invite(adele, team.pk, "operator")

    many_api, listed = counted(lambda: admin.get("/api/invites"))
    many_page, shown = counted(lambda: page.get(reverse("agents:team")))
    assert [i["id"] for i in listed.json()["invites"]] == [second.pk, first.pk] and listed.json()["total"] == 2
    revoke_forms = re.findall(r'action="/team/invites/(\d+)/revoke/"', shown.content.decode())
    assert sorted(map(int, revoke_forms)) == sorted([first.pk, second.pk])
    assert (many_api, many_page) == (one_api, one_page)


# ---------------------------------------------------------------- webhooks and preferences


def test_a_webhooks_secret_is_shown_once_and_its_log_stays_after_it_is_deleted(client, adele, alice, demo, settings):
    settings.SWARM_WEBHOOK_HOSTS = ["127.0.0.1:*"]
    team, _ = demo
    admin = Api(client, scoped_token("adele", "admin"))
    refused = admin.post("/api/webhooks", {"name": "ops", "url": "https://evil.example/hook"})
    assert refused.status_code == 400 and refused.json()["field"] == "url"
    made = admin.post("/api/webhooks", {"name": "ops", "url": "http://127.0.0.1:9/hook", "kinds": ["verdict"]})
    assert made.status_code == 201, made.json()
    secret = made.json()["secret"]
    assert Webhook.objects.get(pk=made.json()["id"]).secret == secret
    again = admin.post("/api/webhooks", {"name": "ops", "url": "http://127.0.0.1:9/other"})
    assert again.status_code in (400, 409) and again.json()["field"] == "name"
    listed = admin.get("/api/webhooks")
    assert [w["name"] for w in listed.json()["webhooks"]] == ["ops"] and secret not in listed.content.decode()

    notify.notify(team.pk, Kind.VERDICT, "Ada's work waits for a review.", "/reviews/1/")
    log = admin.get("/api/webhooks/deliveries").json()["deliveries"]
    assert [(d["recipient"], d["notices"]) for d in log] == [("ops", ["Ada's work waits for a review."])]

    operator = Api(client, scoped_token("alice", "admin"))
    assert operator.get("/api/webhooks").status_code == 403
    assert operator.get("/api/webhooks/deliveries").status_code == 403
    assert admin.delete(f"/api/webhooks/{made.json()['id']}").json()["deleted"] is True
    log = admin.get("/api/webhooks/deliveries").json()["deliveries"]
    assert log[0]["recipient"] == "ops (deleted)" and log[0]["status"] == "failed" and log[0]["webhook"] is None


def test_a_person_reads_and_changes_their_own_notification_preferences(client, alice, demo):
    mine = Api(client, scoped_token("alice", "operate"))
    assert mine.get("/api/notifications/preferences").json()["email"] is True
    changed = mine.patch("/api/notifications/preferences", {"email_address": "alice@example.com", "kinds": ["budget"]})
    assert changed.json() == {"email_address": "alice@example.com", "email": True, "kinds": ["budget"]}
    assert Preference.objects.get(user=alice).kinds == ["budget"]
    bad = mine.patch("/api/notifications/preferences", {"email_address": "not an address"})
    assert bad.status_code == 400 and bad.json()["field"] == "email_address"
    unknown = mine.patch("/api/notifications/preferences", {"kinds": ["everything"]})
    assert unknown.status_code == 400 and unknown.json()["field"] == "kinds[0]"
    reader = Api(client, scoped_token("alice", "read"))
    assert reader.patch("/api/notifications/preferences", {"email": False}).status_code == 403
    assert Preference.objects.get(user=alice).email is True
