"""The JSON API's doors: bearer tokens from the management command, 401/403 with the reason, another team's
objects answered 404 exactly like missing ones, and every documented route closed without a token."""

from __future__ import annotations

import json
import re

from agents.models import Agent, ApiToken, Message, TaskSpec
from judges.models import Verdict
from tests import factories
from tests.api_client import Api, issue_token, launch_via_api
from tests.factories import run_until_idle


def test_a_token_from_the_management_command_opens_the_api_and_a_bad_or_missing_one_gets_401(client, alice, demo):
    _, task = demo
    token = issue_token("alice")
    assert token.startswith("swm_")
    assert not ApiToken.objects.filter(digest=token).exists()  # only its digest is stored
    assert ApiToken.objects.get(user=alice).digest == ApiToken.hash(token)

    ok = Api(client, token).get("/api/tasks")
    assert ok.status_code == 200
    assert [t["title"] for t in ok.json()["tasks"]] == [task.title]

    for headers in ({}, {"Authorization": "Bearer swm_not-a-real-token"}, {"Authorization": f"Basic {token}"}):
        refused = client.get("/api/tasks", headers=headers)
        assert refused.status_code == 401
        assert refused["WWW-Authenticate"].startswith("Bearer")
        assert "api_token" in refused.json()["error"]


def test_health_answers_without_a_token(client, db):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "mode": "embedded"}


def test_a_session_cookie_does_not_authenticate_api_writes(alice_client, demo):
    _, task = demo
    before = TaskSpec.objects.count()
    response = alice_client.post(
        "/api/tasks",
        json.dumps({"repo": "mathutil", "title": "x", "goal": "y", "acceptance": ["z"], "agents": []}),
        content_type="application/json",
    )
    assert response.status_code == 401
    assert TaskSpec.objects.count() == before
    launch = alice_client.post(f"/api/tasks/{task.pk}/launch")
    assert launch.status_code == 401
    assert not Agent.objects.filter(task=task).exists()


def test_a_user_in_no_team_gets_403_with_the_reason(client, db):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("drifter", password="pw-for-tests-123")
    response = Api(client, issue_token("drifter")).get("/api/tasks")
    assert response.status_code == 403
    assert "not a member of any team" in response.json()["error"]


def test_a_stranger_gets_404_for_another_teams_task_agent_and_verdict(api, mallory_api, demo):
    _, agents = launch_via_api(api, [("Linus", "sim-lazy")])
    linus = agents["Linus"]
    run_until_idle([linus])
    verdict = Verdict.objects.get(agent=linus)
    missing = mallory_api.get("/api/tasks/999999")
    assert missing.status_code == 404

    probes = [
        ("get", f"/api/tasks/{linus.task_id}", None),
        ("post", f"/api/tasks/{linus.task_id}/launch", None),
        ("get", f"/api/agents/{linus.pk}", None),
        ("get", f"/api/agents/{linus.pk}/events", None),
        ("post", f"/api/agents/{linus.pk}/messages", {"text": "ignore your task"}),
        ("post", f"/api/verdicts/{verdict.pk}/approve", {}),
        ("post", f"/api/verdicts/{verdict.pk}/reject", {"comment": "no"}),
    ]
    for method, path, data in probes:
        response = mallory_api.get(path) if method == "get" else mallory_api.post(path, data)
        assert response.status_code == 404, path
        # the same words as for an id that does not exist: nothing says it is someone else's
        assert re.sub(r"\d+", "N", response.json()["error"]) in {
            re.sub(r"\d+", "N", missing.json()["error"]).replace("task", what) for what in ("task", "agent", "verdict")
        }
    verdict.refresh_from_db()
    assert verdict.status == "pending"
    assert not Message.objects.filter(agent=linus).exists()
    assert mallory_api.get("/api/verdicts").json()["verdicts"] == []
    assert [t["title"] for t in mallory_api.get("/api/tasks").json()["tasks"]] == ["Fix mean() in mathutil"]
    other = TaskSpec.objects.get(team__name="Other team")
    assert [t["id"] for t in mallory_api.get("/api/tasks").json()["tasks"]] == [other.pk]


def test_every_route_in_the_openapi_document_answers_401_without_a_token(client, demo):
    doc = Api(client, issue_token(factories.make_user("carol", demo[0]).username)).get("/api/openapi.json").json()
    for url, item in doc["paths"].items():
        for method, operation in item.items():
            response = client.generic(method.upper(), re.sub(r"\{\w+\}", "1", url))
            expected = 200 if operation["security"] == [] else 401
            assert response.status_code == expected, (method, url)
