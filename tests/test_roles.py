"""Roles in a team: the team page, one-time invitation links, the current team, and who watches over sockets.

(Which role may use which page and API route is tested from one table in tests/test_isolation.py.)
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.test import Client
from django.utils import timezone

from agents import services, teams
from agents.models import Invite, Membership, TaskSpec, Team
from swarm_web.asgi import application
from tests.sockets import TIMEOUT, headers_for, next_close, open_agent_socket

pytestmark = pytest.mark.usefixtures("fresh_channel_layer")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def invite_link(admin, role: str) -> str:
    response = logged_in(admin).post("/team/invites/", {"role": role})
    assert response.status_code == 201
    link = re.search(r'value="(http://testserver/invites/[^"]+/)"', response.content.decode()).group(1)
    return link.removeprefix("http://testserver")


# ---------------------------------------------------------------- the team page


def test_the_team_page_lists_members_with_roles_and_only_an_admin_sees_the_controls(adele, alice, bob, victor):
    admin_page = logged_in(adele).get("/team/").content.decode()
    for name in ("adele", "alice", "bob", "victor"):
        assert name in admin_page
    assert "Change role" in admin_page and "Remove" in admin_page and "Make a one-time link" in admin_page

    viewer_page = logged_in(victor).get("/team/")
    assert viewer_page.status_code == 200
    html = viewer_page.content.decode()
    assert "alice" in html and "operator" in html and "reviewer" in html
    assert "Change role" not in html and "Make a one-time link" not in html


def test_an_admin_changes_a_role_and_the_new_role_applies_at_once(adele, victor, demo):
    _, task = demo
    viewer = logged_in(victor)
    assert viewer.post(f"/tasks/{task.pk}/launch/").status_code == 403
    membership = Membership.objects.get(user=victor)
    response = logged_in(adele).post(f"/team/members/{membership.pk}/role/", {"role": "operator"})
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == "operator"
    assert viewer.post(f"/tasks/{task.pk}/launch/").status_code == 302
    assert TaskSpec.objects.get(pk=task.pk).launched_at is not None


def test_a_team_always_keeps_an_admin(adele, alice):
    admin = logged_in(adele)
    mine = Membership.objects.get(user=adele)
    assert admin.post(f"/team/members/{mine.pk}/remove/").status_code == 302
    assert admin.post(f"/team/members/{mine.pk}/role/", {"role": "viewer"}).status_code == 302
    mine.refresh_from_db()
    assert mine.role == "admin"
    assert "keeps at least one admin" in admin.get("/team/").content.decode()

    # control: with a second admin, the first may step down
    Membership.objects.filter(user=alice).update(role="admin")
    assert admin.post(f"/team/members/{mine.pk}/role/", {"role": "reviewer"}).status_code == 302
    mine.refresh_from_db()
    assert mine.role == "reviewer"
    with pytest.raises(services.ServiceError, match="at least one admin"):
        teams.remove_member(alice, mine.team_id, Membership.objects.get(user=alice).pk)


def test_an_unknown_role_is_refused_and_changes_nothing(adele, victor):
    membership = Membership.objects.get(user=victor)
    logged_in(adele).post(f"/team/members/{membership.pk}/role/", {"role": "owner"})
    membership.refresh_from_db()
    assert membership.role == "viewer"


# ---------------------------------------------------------------- invitations


def test_an_invitation_link_creates_an_account_that_joins_with_the_invited_role_once(adele, demo):
    team, _ = demo
    path = invite_link(adele, "reviewer")
    token = path.split("/")[2]
    assert not Invite.objects.filter(digest=token).exists()  # only the token's hash is stored

    visitor = Client()
    page = visitor.get(path)
    assert page.status_code == 200 and f"Join {team.name} as reviewer" in page.content.decode()
    joined = visitor.post(
        path, {"username": "rhea", "password1": "a long pass phrase 42", "password2": "a long pass phrase 42"}
    )
    assert joined.status_code == 302
    assert Membership.objects.get(user__username="rhea").role == "reviewer"
    assert "rhea" in visitor.get("/team/").content.decode()  # signed in, in the team

    again = Client().post(path, {"username": "eve", "password1": "another pass 4242", "password2": "another pass 4242"})
    assert again.status_code == 404 and "not valid" in again.content.decode()
    assert not Membership.objects.filter(user__username="eve").exists()


def test_a_signed_in_user_joins_a_second_team_and_works_in_it(adele, mallory, demo):
    team, _ = demo
    path = invite_link(adele, "viewer")
    client = logged_in(mallory)
    assert client.post(path).status_code == 302
    assert Membership.objects.get(user=mallory, team=team).role == "viewer"
    # the link took her to the team she joined, where she watches and changes nothing
    html = client.get("/").content.decode()
    assert "Fix mean() in mathutil" in html and "New task" not in html


def test_an_expired_or_revoked_invitation_does_not_work(adele, demo):
    team, _ = demo
    expired, raw_expired = teams.create_invite(adele, team.pk, "admin")
    Invite.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked, raw_revoked = teams.create_invite(adele, team.pk, "admin")
    assert logged_in(adele).post(f"/team/invites/{revoked.pk}/revoke/").status_code == 302
    fresh, raw_fresh = teams.create_invite(adele, team.pk, "admin")
    for raw in (raw_expired, raw_revoked, "made-up-token"):
        response = Client().post(
            f"/invites/{raw}/", {"username": "eve", "password1": "x pass 4242", "password2": "x pass 4242"}
        )
        assert response.status_code == 404, raw
    assert not Membership.objects.filter(user__username="eve").exists()
    assert Client().get(f"/invites/{raw_fresh}/").status_code == 200  # control: a live link works


def test_only_an_admin_makes_invitations(alice, demo):
    team, _ = demo
    before = Invite.objects.count()
    assert logged_in(alice).post("/team/invites/", {"role": "admin"}).status_code == 403
    with pytest.raises(services.ServiceError, match="only admin"):
        teams.create_invite(alice, team.pk, "admin")
    assert Invite.objects.count() == before


# ---------------------------------------------------------------- the current team


def test_a_member_of_two_teams_creates_things_in_the_team_chosen_in_the_navigation(demo, mallory):
    team, task = demo
    other = Team.objects.get(name="Other team")
    Membership.objects.create(team=team, user=mallory, role="operator")
    client = logged_in(mallory)
    page = client.get("/").content.decode()
    assert 'aria-label="Current team"' in page and "Demo team (operator)" in page

    # the selector says where things go and what the lists show
    assert client.post("/team/switch/", {"team": team.pk, "next": "/taste/"})["Location"] == "/taste/"
    lists = client.get("/").content.decode()
    assert f"/tasks/{task.pk}/" in lists
    assert not any(f"/tasks/{t.pk}/" in lists for t in TaskSpec.objects.filter(team=other))
    created = client.post(
        "/tasks/new/",
        {
            "title": "Add median()",
            "repo": task.repo.pk,
            "goal": "Add median().",
            "acceptance_text": "median([1, 3, 2]) == 2",
            "budget_minutes": 10,
            "budget_tokens": 1000,
            "budget_usd": 1,
            "roster_text": "Zed = sim-diligent",
            "judge_rule": "unanimous",
        },
    )
    assert created.status_code == 302
    assert TaskSpec.objects.get(title="Add median()").team == team

    switched = client.post("/team/switch/", {"team": other.pk, "next": "https://evil.example/"})
    assert switched["Location"] == "/"  # never sent off the site
    lists = client.get("/").content.decode()
    assert f"/tasks/{task.pk}/" not in lists

    # a team she is not in cannot be chosen
    stranger = Team.objects.create(name="Stranger team")
    client.post("/team/switch/", {"team": stranger.pk})
    assert client.session[teams.SESSION_KEY] == other.pk


def test_an_operator_cannot_set_the_review_policy_through_the_task_form(alice, demo):
    team, task = demo
    assert not task.auto_approve
    response = logged_in(alice).post(
        f"/tasks/{task.pk}/edit/",
        {
            "title": task.title,
            "repo": task.repo.pk,
            "goal": task.goal,
            "acceptance_text": "\n".join(task.acceptance),
            "budget_minutes": 10,
            "budget_tokens": 1000,
            "budget_usd": 1,
            "roster_text": "Ada = sim-diligent",
            "judge_rule": "majority",
            "auto_approve": "on",
        },
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.budget_minutes == 10  # her edit was saved...
    assert (task.auto_approve, task.judge_rule) == (False, "unanimous")  # ...but not the policy
    assert task.judge_profiles.count() == 2


# ---------------------------------------------------------------- sockets


def test_a_viewer_watches_an_agent_without_its_buttons_and_an_operator_gets_them(demo, victor, alice):
    _, task = demo
    ada = services.launch_task(task)[0]

    async def first_header(headers) -> str:
        comm = WebsocketCommunicator(application, f"/ws/agents/{ada.pk}/", headers=headers)
        connected, _ = await comm.connect(timeout=TIMEOUT)
        assert connected
        while True:
            message = await comm.receive_json_from(timeout=TIMEOUT)
            if message["seq"] is None:
                await comm.disconnect()
                return message["html"]

    viewer = async_to_sync(first_header)(headers_for(victor))
    operator = async_to_sync(first_header)(headers_for(alice))
    assert "agent-header" in viewer and "Stop</button>" not in viewer
    assert "Stop</button>" in operator  # control: the same header with the operator's buttons


def test_a_removed_member_is_disconnected_at_once(demo, adele, victor):
    _, task = demo
    ada = services.launch_task(task)[0]
    membership = Membership.objects.get(user=victor)
    headers = headers_for(victor)

    async def scenario():
        comm, _ = await open_agent_socket(headers, ada.pk)
        task_comm = WebsocketCommunicator(application, f"/ws/tasks/{task.pk}/", headers=headers)
        assert (await task_comm.connect(timeout=TIMEOUT))[0]
        await task_comm.receive_json_from(timeout=TIMEOUT)
        assert await comm.receive_nothing(timeout=0.5)  # control: a member's socket stays open
        await database_sync_to_async(teams.remove_member)(adele, membership.team_id, membership.pk)
        closed = await comm.receive_output(timeout=5)
        task_closed = await next_close(task_comm)
        return closed, task_closed

    closed, task_closed = async_to_sync(scenario)()
    assert closed == {"type": "websocket.close", "code": 4403}
    assert task_closed == {"type": "websocket.close", "code": 4403}

    async def reconnect():
        comm = WebsocketCommunicator(application, f"/ws/agents/{ada.pk}/", headers=headers)
        connected, _ = await comm.connect(timeout=TIMEOUT)
        return connected

    assert async_to_sync(reconnect)() is False  # and cannot come back


# ---------------------------------------------------------------- the migration


def test_existing_memberships_get_roles_and_every_team_an_admin(db):
    from importlib import import_module

    migration = import_module("agents.migrations.0005_roles")
    User = apps.get_model("auth", "User")
    a, b = Team.objects.create(name="A"), Team.objects.create(name="B")
    users = [User.objects.create(username=n) for n in ("o", "m1", "m2", "n1")]
    Membership.objects.create(team=a, user=users[0], role="owner")
    Membership.objects.create(team=a, user=users[1], role="member")
    Membership.objects.create(team=b, user=users[2], role="member")
    Membership.objects.create(team=b, user=users[3], role="member")
    migration.assign_roles(apps, None)
    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles == {"o": "admin", "m1": "operator", "m2": "admin", "n1": "operator"}


def test_a_refusal_says_which_roles_may_as_a_page_or_as_an_htmx_fragment(demo, victor):
    _, task = demo
    agent = services.launch_task(task)[0]
    viewer = logged_in(victor)
    page = viewer.post(f"/agents/{agent.pk}/messages/", {"text": "hi"})
    assert page.status_code == 403
    html = page.content.decode()
    assert "<html" in html and "Your role in this team is viewer; only operator or admin may message agents." in html
    fragment = viewer.post(f"/agents/{agent.pk}/messages/", {"text": "hi"}, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 403
    assert "<html" not in fragment.content.decode() and "only operator or admin" in fragment.content.decode()
    assert not agent.messages.exists()
    # and the page never offered the form
    assert 'id="message-text"' not in viewer.get(f"/agents/{agent.pk}/").content.decode()
