"""The overview pages' lists through the API: a task's table of agents (filtered, sorted, paged, and acted on by its
filter), who waits for a person oldest first, and the model families' figures; each the same rows the page shows."""

from __future__ import annotations

import re

import pytest

from agents import fleet
from agents.models import Agent, Membership
from tests import factories
from tests.api_client import Api, issue_token

ROW = re.compile(r'<tr id="agent-(\d+)-card"')
FAMILY = re.compile(r'<tr id="family-\d+"><td>([^<]+)</td>((?:<td class="num">[^<]*</td>)+)</tr>')


@pytest.fixture
def fleet_task(demo):
    return factories.make_fleet(demo[1], 130)


def _page_rows(client, task, params: dict) -> list[int]:
    return [int(pk) for pk in ROW.findall(client.get(f"/tasks/{task.pk}/", params).content.decode())]


def test_a_tasks_agents_are_paged_filtered_and_sorted_as_its_table(fleet_task, alice_client, api, mallory_api):
    url = f"/api/tasks/{fleet_task.pk}/agents"
    for params, page_params in (
        ({}, {}),
        ({"sort": "tokens", "desc": "true", "page": 2}, {"sort": "tokens", "desc": "1", "page": 2}),
        ({"status": "paused"}, {"status": "paused"}),
        ({"status": "attention", "sort": "status"}, {"status": "attention", "sort": "status"}),
        ({"family": "acme", "q": "agent00"}, {"family": "acme", "q": "agent00"}),
    ):
        answer = api.get(url, {**params, "per_page": fleet.PAGE_SIZE})
        assert answer.status_code == 200, answer.json()
        shown = _page_rows(alice_client, fleet_task, page_params)
        assert shown and [a["id"] for a in answer.json()["agents"]] == shown, params
    paused = api.get(url, {"status": "paused", "per_page": 5}).json()
    assert paused["total"] == fleet_task.agents.filter(status="paused").count() and len(paused["agents"]) == 5
    assert {a["status"] for a in paused["agents"]} == {"paused"} and paused["agents"][0]["family"]

    for query, field in (({"status": "asleep"}, "status"), ({"desc": "1"}, "desc"), ({"group": "model"}, "group")):
        refused = api.get(url, query)
        assert refused.status_code == 400 and refused.json()["field"] == field, refused.json()
    assert mallory_api.get(url).status_code == 404
    assert api.get("/api/tasks/987654321/agents").status_code == 404

    # the table's "every agent that matches the filter", through the API's bulk action
    running = set(fleet_task.agents.filter(status="running", profile__family="acme").values_list("pk", flat=True))
    others = dict(fleet_task.agents.exclude(pk__in=running).values_list("pk", "status"))
    refused = api.post(f"/api/tasks/{fleet_task.pk}/act", {"action": "pause", "filter": {"colour": "red"}})
    assert refused.status_code == 400 and refused.json()["field"] == "filter.colour"
    acted = api.post(f"/api/tasks/{fleet_task.pk}/act", {"action": "pause", "filter": {"status": "running", "family": "acme"}})  # fmt: skip
    assert acted.status_code == 200, acted.json()
    assert acted.json()["done"] == len(running) > 0
    assert set(Agent.objects.filter(pk__in=running).values_list("status", flat=True)) == {"paused"}
    assert dict(fleet_task.agents.exclude(pk__in=running).values_list("pk", "status")) == others


def test_who_waits_for_a_person_is_paged_oldest_first_as_the_strip_shows(fleet_task, alice_client, api, mallory_api):
    strip, total = fleet.attention_queue(fleet_task.agents.all())
    answer = api.get("/api/attention", {"per_page": fleet.ATTENTION_SHOWN})
    assert answer.status_code == 200, answer.json()
    doc = answer.json()
    assert doc["total"] == total and [a["id"] for a in doc["agents"]] == [a.pk for a in strip]
    html = alice_client.get(f"/tasks/{fleet_task.pk}/").content.decode()
    assert f"Needs you now ({doc['total']})" in html and f"and {doc['total'] - len(strip)} more waiting" in html
    first = doc["agents"][0]
    assert first["task"] == {"id": fleet_task.pk, "title": fleet_task.title} and first["waiting_since"]
    assert first["waiting_for"] in {"verdict", "budget", "loop", "question", "paused", "error"}
    last = api.get("/api/attention", {"task": fleet_task.pk, "per_page": 10, "page": doc["pages"] * 9})
    assert last.json()["page"] == last.json()["pages"] and last.json()["agents"]  # past the end: the last page

    assert mallory_api.get("/api/attention").json()["agents"] == []  # her team: nobody waits
    assert mallory_api.get("/api/attention", {"task": fleet_task.pk}).status_code == 404
    for query, field in (({"task": "x"}, "task"), ({"team": "Other team"}, "team"), ({"since": "1h"}, "since")):
        refused = api.get("/api/attention", query)
        assert refused.status_code == 400 and refused.json()["field"] == field, refused.json()


def test_the_model_families_figures_are_the_dashboards(fleet_task, alice, alice_client, api, client, demo):
    answer = api.get("/api/families")
    assert answer.status_code == 200, answer.json()
    doc = answer.json()
    table = FAMILY.findall(alice_client.get("/dashboard/").content.decode())
    assert [f["family"] for f in doc["families"]] == [name for name, _ in table] and len(table) >= 2
    for family, (_, cells) in zip(doc["families"], table, strict=True):
        shown = re.findall(r'<td class="num">([^<]*)</td>', cells)
        assert shown[:3] == [str(family["attempts"]), str(family["approved"]), f"{round(family['rate'] * 100)}%"]
        assert shown[3:5] == [str(family["closed"]), f"${family['avg_cost_usd']:.4f}"]
    assert sum(f["attempts"] for f in doc["families"]) == Agent.objects.in_team(demo[0]).count()

    # someone in two teams names the one they mean
    other, _ = factories.demo_team("Second team")
    Membership.objects.create(team=other, user=alice, role="viewer")
    both = Api(client, issue_token("alice"))
    refused = both.get("/api/families")
    assert refused.status_code == 400 and refused.json()["field"] == "team"
    named = both.get("/api/families", {"team": "Second team"}).json()
    assert named["team"]["name"] == "Second team" and named["families"] == []
    assert both.get("/api/families", {"team": demo[0].pk}).json()["families"] == doc["families"]
