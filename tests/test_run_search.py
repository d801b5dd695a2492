"""Search past runs: the words of transcripts, messages and verdicts, found on SQLite (FTS5, kept by triggers) and on
PostgreSQL (its full-text search; the suite's PostgreSQL pass runs these same tests), filtered by task, agent, model,
family, outcome and kind; another team's runs are never found; hostile queries get a clear 400, never a 500."""

from __future__ import annotations

import pytest
from django.db import connection

from agents import messaging, services
from agents.models import Agent, Message
from judges.models import Verdict
from tests.api_client import launch_via_api
from tests.factories import run_until_idle


@pytest.fixture
def runs(api, alice, demo):
    """Ada (diligent) and Linus (lazy) run to review; a person told Ada something memorable."""
    task, agents = launch_via_api(api, [("Ada", "sim-diligent"), ("Linus", "sim-lazy")])
    messaging.send(agents["Ada"], "Mind the zanzibar edge case <script>alert(1)</script>", author=alice)
    run_until_idle(agents.values())
    return task, {a.name: a for a in Agent.objects.filter(task=task)}


def _hits(api, **params):
    response = api.get("/api/search", params)
    assert response.status_code == 200, response.json()
    return response.json()


def test_words_of_transcripts_messages_and_verdicts_are_found_with_the_match_marked(api, runs):
    task, agents = runs
    found = _hits(api, q="zanzibar")
    kinds = {(h["kind"], h["agent"]["name"]) for h in found["hits"]}
    assert ("message", "Ada") in kinds  # the person's message
    assert ("transcript", "Ada") in kinds  # and the same words as the agent read them
    message = next(h for h in found["hits"] if h["kind"] == "message")
    assert message["id"] == Message.objects.get(text__contains="zanzibar").pk
    start, end = message["marks"][0]
    assert message["snippet"][start:end].lower() == "zanzibar"
    assert message["url"] == f"/agents/{agents['Ada'].pk}/" and message["task"] == {"id": task.pk, "title": task.title}

    # "This is finished." is what the lazy simulator says: only Linus's transcript
    finished = _hits(api, q="finished", kind="transcript")
    assert {h["agent"]["name"] for h in finished["hits"]} == {"Linus"}

    verdict = Verdict.objects.get(agent=agents["Linus"])
    Verdict.objects.filter(pk=verdict.pk).update(summary="Refactored the quixotic helper")
    on_verdicts = _hits(api, q="quixotic")
    assert [(h["kind"], h["id"]) for h in on_verdicts["hits"]] == [("verdict", verdict.pk)]
    assert on_verdicts["hits"][0]["url"] == f"/reviews/verdicts/{verdict.pk}/"


def test_the_query_language_means_the_same_on_both_databases(api, runs):
    def who(q, **more):
        return {(h["kind"], h["agent"]["name"]) for h in _hits(api, q=q, **more)["hits"]}

    assert ("message", "Ada") in who('"zanzibar edge case"')
    assert who('"edge zanzibar"', kind="message") == set()  # a phrase keeps its order
    assert ("message", "Ada") in who("zanzib*")
    assert who("zanzibar -edge", kind="message") == set()
    assert who("zanzibar OR finished", kind="transcript") == {("transcript", "Ada"), ("transcript", "Linus")}
    assert who("zanzibar finished", kind="transcript") == set()  # both words, in one entry


def test_filters_by_task_agent_model_family_and_outcome(api, runs):
    task, agents = runs
    everyone = {h["agent"]["name"] for h in _hits(api, q="finished OR mathutil", per_page=200)["hits"]}
    assert everyone == {"Ada", "Linus"}
    assert {h["agent"]["name"] for h in _hits(api, q="finished OR mathutil", model="sim-lazy")["hits"]} == {"Linus"}
    assert {h["agent"]["name"] for h in _hits(api, q="finished OR mathutil", agent="ad")["hits"]} == {"Ada"}
    assert _hits(api, q="finished OR mathutil", family="no-such-family")["total"] == 0
    assert _hits(api, q="finished OR mathutil", family="simulator")["total"] > 0
    assert _hits(api, q="finished OR mathutil", task=task.pk + 1000)["total"] == 0

    services.stop(agents["Linus"], "alice")
    assert {h["agent"]["name"] for h in _hits(api, q="finished OR mathutil", outcome="stopped")["hits"]} == {"Linus"}
    paged = _hits(api, q="finished OR mathutil", per_page=1)
    assert paged["per_page"] == 1 and paged["pages"] == paged["total"] > 1 and len(paged["hits"]) == 1


def test_another_teams_runs_are_never_found(api, mallory_api, runs):
    assert _hits(api, q="zanzibar")["total"] > 0
    assert _hits(mallory_api, q="zanzibar")["total"] == 0


HOSTILE = [
    '"unclosed',
    "OR",
    "zanzibar OR",
    "-zanzibar",
    "*",
    "zan*bar*",
    'a"b"c"',
    "NEAR(zanzibar edge, 2)",
    "body:zanzibar",
    "^zanzibar",
    "zanzibar AND",
    "NOT zanzibar",
    "(zanzibar",
    "zanzibar)",
    "'; DROP TABLE agents_message; --",
    "\\",
    "x" * 301,
    " ",
    "a " * 30,
]


def test_hostile_queries_get_a_clear_400_naming_q_or_results_never_a_500(api, runs):
    for q in HOSTILE:
        response = api.get("/api/search", {"q": q})
        assert response.status_code in {200, 400}, (q, response.status_code)
        if response.status_code == 400:
            assert response.json()["field"] == "q", q
            assert response.json()["error"].startswith("q "), q
    assert api.get("/api/search", {"q": '"unclosed'}).json()["error"] == (
        'q has a quote that is not closed: end the phrase with ".'
    )
    assert api.get("/api/search", {"q": "-zanzibar"}).status_code == 400
    assert api.get("/api/search", {"q": "zanzibar", "outcome": "won"}).json()["field"] == "outcome"
    assert api.get("/api/search", {"q": "zanzibar", "task": "1 OR 1=1"}).json()["field"] == "task"
    assert Message.objects.filter(text__contains="zanzibar").exists()


def test_the_index_follows_rows_that_change_or_go(api, runs):
    _, agents = runs
    message = Message.objects.get(text__contains="zanzibar")
    Message.objects.filter(pk=message.pk).update(text="Mind the kilimanjaro edge case")
    assert _hits(api, q="kilimanjaro", kind="message")["total"] == 1
    assert _hits(api, q="zanzibar", kind="message")["total"] == 0
    Message.objects.filter(pk=message.pk).delete()
    assert _hits(api, q="kilimanjaro", kind="message")["total"] == 0
    if connection.vendor == "sqlite":  # no row of the index is left behind for the deleted message
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM swarm_run_search WHERE rowid = %s", [message.pk * 4 + 2])
            assert cursor.fetchone()[0] == 0


def test_the_search_page_swaps_escaped_results_and_says_what_is_wrong(alice_client, runs):
    page = alice_client.get("/reviews/search/", {"q": "zanzibar"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "<mark>zanzibar</mark>" in html.lower() and "alert(1)" in html
    assert "<script>alert(1)" not in html
    if connection.vendor == "sqlite":  # PostgreSQL's headline leaves tag-like text out of the snippet altogether
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    fragment = alice_client.get(
        "/reviews/search/", {"q": "zanzibar", "kind": "message"}, headers={"HX-Request": "true"}
    )
    assert fragment.content.decode().startswith('<section id="search-results"')
    bad = alice_client.get("/reviews/search/", {"q": '"unclosed'}, headers={"HX-Request": "true"})
    assert bad.status_code == 400 and "Q has a quote that is not closed" in bad.content.decode()
