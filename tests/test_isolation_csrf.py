"""CSRF on every form: a POST without the token, with another session's token or from another site is refused
and changes nothing. Every POST of the URLconf is tried, from the same list as tests/test_isolation.py."""

from __future__ import annotations

from django.test import Client

from agents.models import Message
from tests.isolation import BODIES, allowed, object_requests, snapshot


def test_post_without_csrf_token_is_refused(alices_things, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    before = snapshot()
    for name, path in object_requests(alices_things):
        if "post" in allowed(name):
            response = client.post(path, BODIES.get(name, {}))
            assert response.status_code == 403, f"POST {path} without a token answered {response.status_code}"
    assert snapshot() == before

    # control: the same client with the token from the page gets through
    agent_page = f"/agents/{alices_things['agent']}/"
    client.get(agent_page)
    token = client.cookies["csrftoken"].value
    response = client.post(f"{agent_page}messages/", {**BODIES["agents:agent_message"], "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Message.objects.filter(agent_id=alices_things["agent"]).count() == 1


def test_a_post_from_another_site_or_with_another_sessions_token_is_refused(alices_things, alice, bob):
    agent_page = f"/agents/{alices_things['agent']}/"
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get(agent_page)
    token = client.cookies["csrftoken"].value
    bobs = Client(enforce_csrf_checks=True)
    bobs.force_login(bob)
    bobs.get(agent_page)
    bobs_token = bobs.cookies["csrftoken"].value
    before = snapshot()
    for name, path in object_requests(alices_things):
        if "post" not in allowed(name):
            continue
        body = {**BODIES.get(name, {}), "csrfmiddlewaretoken": token}
        # the page's own token, but the request comes from a page of another site (a browser sends its Origin)
        forged = client.post(path, body, headers={"Origin": "https://evil.example"})
        assert forged.status_code == 403, f"POST {path} from another origin answered {forged.status_code}"
        # a token lifted from Bob's session does not fit Alice's cookie
        lifted = client.post(path, {**body, "csrfmiddlewaretoken": bobs_token})
        assert lifted.status_code == 403, f"POST {path} with another session's token answered {lifted.status_code}"
    assert snapshot() == before

    # control: the same token from our own origin gets through
    same_site = client.post(
        f"{agent_page}messages/",
        {**BODIES["agents:agent_message"], "csrfmiddlewaretoken": token},
        headers={"Origin": "http://testserver"},
    )
    assert same_site.status_code == 302
    assert Message.objects.filter(agent_id=alices_things["agent"]).count() == 1


def test_trusted_origins_hold_no_wildcard(settings):
    assert not any("*" in origin for origin in settings.CSRF_TRUSTED_ORIGINS)
