"""Who may see and change what: login for every page, 404 across teams, roles within a team, POST-only writes
(CSRF on every form: tests/test_isolation_csrf.py).

The page and API lists come from the URLconf itself, and every (URL, method) must be in ROLES, the one table of
which roles may use it: a page added later is checked without anyone remembering to.
"""

from __future__ import annotations

from django.test import Client

from agents.models import (
    Membership,
    Message,
    Skill,
    TaskSpec,
    TasteGuide,
)
from judges.models import Verdict
from tests.isolation import (
    BODIES,
    EVERYONE,
    GET_ONLY,
    OBJECT_URLS,
    PERSONAS,
    POST_ONLY,
    ROLES,
    WORDS,
    allowed,
    fill,
    object_requests,
    page_routes,
    snapshot,
)


def test_url_table_knows_every_page():
    routes = page_routes()
    assert len(routes) >= 10
    names = {name for _, name in routes}
    assert {"agents:task_list", "agents:agent_detail", "judges:queue", "judges:decide"} <= names
    assert all(name for name in names), "every page has a name"


def test_anonymous_visitor_is_sent_to_login_from_every_page(alices_things):
    client = Client()
    for route, name in page_routes():
        things = alices_things
        pk = things[OBJECT_URLS[name]] if name in OBJECT_URLS else 1
        for word in WORDS.get(name, ["x"]):
            path = fill(route, pk, word)
            for method in ("get", "post"):
                response = getattr(client, method)(path)
                assert response.status_code == 302, f"{method.upper()} {path} ({name}) answered {response.status_code}"
                assert response["Location"].startswith("/accounts/login/?next="), path


def test_anonymous_posts_change_nothing(alices_things):
    before = snapshot()
    client = Client()
    for name, path in object_requests(alices_things):
        client.post(path, BODIES.get(name, {}))
    assert snapshot() == before


def test_stranger_gets_404_for_every_page_and_action_of_another_team(alices_things, mallory):
    client = Client()
    client.force_login(mallory)
    before = snapshot()
    for name, path in object_requests(alices_things):
        for method in ("post", "get"):
            response = getattr(client, method)(path, BODIES.get(name, {}) if method == "post" else None)
            # a method the URL never takes answers 405 for anyone, which says nothing about the object
            expected = 404 if method in allowed(name) else 405
            assert response.status_code == expected, f"{method.upper()} {path} ({name}) answered {response.status_code}"
    assert snapshot() == before

    # and her own lists show none of Alice's things
    for page in ("/", "/taste/", "/reviews/"):
        html = client.get(page).content.decode()
        assert f"/tasks/{alices_things['task']}/" not in html, page
        assert f"/taste/{alices_things['guide']}/" not in html, page
        assert f"/verdicts/{alices_things['verdict']}/" not in html, page


def test_the_teams_admin_still_reaches_each_page_and_reading_one_changes_nothing(alices_things, client, adele):
    """The control for the 404s above: the same URLs work for a member of the team whose role allows them.
    And a GET writes nothing (no event, no decision): a link, a prefetch or a crawler must not act."""
    client.force_login(adele)
    before = snapshot()
    for name, path in object_requests(alices_things):
        if "get" in allowed(name):
            assert client.get(path).status_code == 200, path
    for route, name in page_routes():
        if "<" not in route and "get" in allowed(name):
            assert client.get(fill(route)).status_code == 200, route
    assert snapshot() == before


def role_requests(things: dict) -> list[tuple[str, str, str]]:
    """(name, method, path) for every page of the URLconf, every method it takes and every action word."""
    requests = []
    for route, name in page_routes():
        for method in sorted(allowed(name)):
            assert (name, method) in ROLES, f"{method.upper()} {name} ({route}): say who may use it in ROLES"
            pk = things[OBJECT_URLS[name]] if name in OBJECT_URLS else 1
            for word in WORDS.get(name, ["x"]):
                requests.append((name, method, fill(route, pk, word)))
    return requests


def logged_in(role: str) -> Client:
    client = Client()
    client.force_login(Membership.objects.get(user__username=PERSONAS[role]).user)
    return client


def test_a_role_that_may_not_do_something_gets_403_saying_who_may_and_nothing_changes(alices_things):
    clients = {role: logged_in(role) for role in EVERYONE}
    before = snapshot()
    refused = 0
    for name, method, path in role_requests(alices_things):
        for role in sorted(EVERYONE - ROLES[(name, method)]):
            response = getattr(clients[role], method)(path, BODIES.get(name, {}) if method == "post" else None)
            assert response.status_code == 403, f"{role}: {method.upper()} {path} answered {response.status_code}"
            assert f"Your role in this team is {role}; only " in response.content.decode(), path
            refused += 1
    assert refused > 40
    assert snapshot() == before


def test_every_role_the_table_allows_gets_through(alices_things):
    """The positive control for the 403s above: the same requests, by the roles that may, are not refused."""
    clients = {role: logged_in(role) for role in EVERYONE}
    for name, method, path in role_requests(alices_things):
        for role in sorted(ROLES[(name, method)]):
            if name == "agents:taste_delete":  # the first one deletes it: each gets a guide of its own
                guide = TasteGuide.objects.create(team=TaskSpec.objects.get(pk=alices_things["task"]).team, name="g")
                path = fill("taste/<int:pk>/delete/", guide.pk)
            if name == "agents:skill_delete":  # likewise a skill of its own
                team = TaskSpec.objects.get(pk=alices_things["task"]).team
                path = fill("skills/<int:pk>/delete/", Skill.objects.create(team=team, name=f"s-{role}").pk)
            response = getattr(clients[role], method)(path, BODIES.get(name, {}) if method == "post" else None)
            assert response.status_code in {200, 201, 302, 400}, (
                f"{role}: {method.upper()} {path} answered {response.status_code}"
            )
    # and the writes took effect: a reviewer decided (the approval is refused, the verdict has no passing
    # verification; the rejection that follows is not), the operator's message was queued, the member removed
    verdict = Verdict.objects.get(pk=alices_things["verdict"])
    assert verdict.status == Verdict.Status.REJECTED and verdict.decided_by.username in {"adele", "bob"}
    assert Message.objects.filter(author__username="alice").exists()
    assert not Membership.objects.filter(user__username="sam").exists()


def test_a_url_answers_405_to_a_method_it_does_not_take(alices_things, alice_client):
    before = snapshot()
    checked = set()
    every_page = [(name, path) for name, _, path in role_requests(alices_things)]
    for name, path in every_page:
        if name in POST_ONLY:
            response = alice_client.get(path)
            assert response.status_code == 405, f"GET {path} answered {response.status_code}"
            assert response["Allow"] == "POST"
            checked.add(name)
        elif name in GET_ONLY:  # read-only pages do not take a POST either
            response = alice_client.post(path)
            assert response.status_code == 405, f"POST {path} answered {response.status_code}"
            checked.add(name)
    assert checked == POST_ONLY | GET_ONLY
    assert snapshot() == before
