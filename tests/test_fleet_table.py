"""The task page at fleet size: a table of 1,000 agents sorted, filtered, grouped and paged on the server, in a number
of queries that does not grow with the fleet; the browser gets one page of rows."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.models import Agent
from swarm_web.asgi import application
from tests import factories
from tests.sockets import TIMEOUT, headers_for

ROW = re.compile(r'<tr id="agent-(\d+)-card" class="[^"]*" data-status="(\w+)" data-tokens="(\d+)"')
GROUP = re.compile(r'<tr class="group-row"><th colspan="10">([^<]+) <span class="count">(\d+)</span>')
FLEET_SIZE = 1000
PAGE = 50


@pytest.fixture
def thousand(demo):
    _, template = demo
    return factories.make_fleet(template, FLEET_SIZE)


def rows(response) -> list[tuple[int, str, int]]:
    return [(int(pk), status, int(tokens)) for pk, status, tokens in ROW.findall(response.content.decode())]


def test_the_task_page_shows_one_page_of_a_thousand_agents_in_a_bounded_number_of_queries(
    thousand, alice_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(40):
        response = alice_client.get(f"/tasks/{thousand.pk}/")
    assert response.status_code == 200
    shown = rows(response)
    assert len(shown) == PAGE
    names = list(Agent.objects.filter(task=thousand).order_by("name").values_list("pk", flat=True)[:PAGE])
    assert [pk for pk, _, _ in shown] == names
    html = response.content.decode()
    assert f"1–{PAGE} of {FLEET_SIZE}" in html
    assert "page 1 of 20" in html


def test_sorting_by_tokens_descending_shows_the_biggest_spenders_first(thousand, alice_client):
    response = alice_client.get(f"/tasks/{thousand.pk}/", {"sort": "tokens", "desc": "1"})
    assert response.status_code == 200
    tokens = [t for _, _, t in rows(response)]
    everyone = sorted((a.tokens for a in Agent.objects.filter(task=thousand)), reverse=True)
    assert tokens == everyone[:PAGE]
    assert 'aria-sort="descending"' in response.content.decode()


def test_every_column_sorts_both_ways(thousand, alice_client):
    for key in ("name", "model", "status", "activity", "time", "tokens", "cost", "read", "nudges"):
        for desc in ("", "1"):
            response = alice_client.get(f"/tasks/{thousand.pk}/", {"sort": key, "desc": desc, "page": "2"})
            assert response.status_code == 200, key
            assert len(rows(response)) == PAGE, key


def test_filters_by_status_model_family_and_text_combine(thousand, alice_client):
    paused = Agent.objects.filter(task=thousand, status="paused")
    response = alice_client.get(f"/tasks/{thousand.pk}/", {"status": "paused"})
    shown = rows(response)
    assert {s for _, s, _ in shown} == {"paused"}
    assert f"of {paused.count()} matching" in response.content.decode()

    acme = Agent.objects.filter(task=thousand, profile__family="acme")
    response = alice_client.get(f"/tasks/{thousand.pk}/", {"family": "acme", "status": "running"})
    expected = set(acme.filter(status="running").values_list("pk", flat=True))
    assert {pk for pk, _, _ in rows(response)} <= expected
    assert f"of {len(expected)} matching" in response.content.decode()

    lazy = thousand.agents.filter(profile__name="sim-lazy").first().profile
    response = alice_client.get(f"/tasks/{thousand.pk}/", {"profile": lazy.pk, "q": "Agent099"})
    names = set(Agent.objects.filter(pk__in=[pk for pk, _, _ in rows(response)]).values_list("name", flat=True))
    assert names == {a.name for a in thousand.agents.filter(profile=lazy, name__startswith="Agent099")}
    assert names  # the filter kept some


def test_the_attention_choice_keeps_everyone_who_needs_a_person(thousand, alice_client):
    response = alice_client.get(f"/tasks/{thousand.pk}/", {"status": "attention", "sort": "status"})
    assert {s for _, s, _ in rows(response)} <= {"paused", "error", "awaiting_review"}
    waiting = thousand.agents.filter(status__in=Agent.ATTENTION).count()
    assert f"of {waiting} matching" in response.content.decode()


def test_grouping_by_status_heads_each_group_with_its_count_across_every_page(thousand, alice_client):
    response = alice_client.get(f"/tasks/{thousand.pk}/", {"group": "status"})
    html = response.content.decode()
    groups = GROUP.findall(html)
    assert groups[0] == ("error", str(thousand.agents.filter(status="error").count()))  # who needs a person first
    # the page holds the first 50 rows of the grouped order: errors (84 of them) fill it
    assert {s for _, s, _ in rows(response)} == {"error"}

    last = alice_client.get(f"/tasks/{thousand.pk}/", {"group": "status", "page": "20"})
    assert GROUP.findall(last.content.decode())[-1] == (
        "stopped",
        str(thousand.agents.filter(status="stopped").count()),
    )


def test_grouping_by_model_counts_each_models_agents(thousand, alice_client):
    response = alice_client.get(f"/tasks/{thousand.pk}/", {"group": "model", "status": "paused"})
    counts = dict(GROUP.findall(response.content.decode()))
    for model, n in counts.items():
        assert int(n) == thousand.agents.filter(status="paused", profile__model=model).count()
    assert sum(int(n) for n in counts.values()) == thousand.agents.filter(status="paused").count()


def test_pages_follow_one_another_without_gaps_or_repeats(thousand, alice_client):
    seen = []
    for page in range(1, 21):
        shown = rows(alice_client.get(f"/tasks/{thousand.pk}/", {"sort": "cost", "page": str(page)}))
        seen += [pk for pk, _, _ in shown]
    assert sorted(seen) == sorted(thousand.agents.values_list("pk", flat=True))
    past_the_end = alice_client.get(f"/tasks/{thousand.pk}/", {"page": "99"})
    assert "page 20 of 20" in past_the_end.content.decode()  # the last page, not an error


def test_an_htmx_request_gets_the_table_alone_and_bad_parameters_are_ignored(thousand, alice_client):
    response = alice_client.get(
        f"/tasks/{thousand.pk}/",
        {"sort": "'; drop table", "status": "nonsense", "page": "x"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="fleet"') and "<html" not in html
    assert len(rows(response)) == PAGE


def test_the_query_count_does_not_grow_with_the_fleet(demo, alice_client):
    _, template = demo
    small = factories.make_fleet(template, 30, title="small")
    big = factories.make_fleet(template, FLEET_SIZE, title="big")
    counts = {}
    for task in (small, big):
        with CaptureQueriesContext(connection) as queries:
            alice_client.get(f"/tasks/{task.pk}/", {"group": "status", "sort": "tokens"})
        counts[task.title] = len(queries)
    assert counts["big"] == counts["small"]


@pytest.mark.usefixtures("fresh_channel_layer")
def test_a_paged_table_connecting_gets_its_own_rows_as_they_are_now_not_the_whole_fleet(thousand, alice):
    on_page = list(thousand.agents.order_by("name").values_list("pk", flat=True)[:PAGE])
    Agent.objects.filter(pk=on_page[0]).update(activity="changed before the socket opened")
    headers = headers_for(alice)

    async def connect() -> str:
        query = "rows=" + ",".join(map(str, on_page))
        comm = WebsocketCommunicator(application, f"/ws/tasks/{thousand.pk}/?after=0&{query}", headers=headers)
        connected, code = await comm.connect(timeout=TIMEOUT)
        assert connected, code
        frame = await comm.receive_json_from(timeout=TIMEOUT)
        await comm.disconnect()
        return frame["html"]

    html = async_to_sync(connect)()
    assert sorted(int(pk) for pk in re.findall(r'<tr id="agent-(\d+)-card"', html)) == sorted(on_page)
    assert "changed before the socket opened" in html
    assert 'id="attention"' in html
