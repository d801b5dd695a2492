"""Search past runs: the words of transcripts, messages, verdicts, judges' opinions and reviews, found on SQLite (FTS5, kept by triggers) and on
PostgreSQL (its full-text search; the suite's PostgreSQL pass runs these same tests), filtered by task, agent, model,
family, outcome and kind; another team's runs are never found; hostile queries get a clear 400, never a 500."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from agents import conversations, messaging, services
from agents.models import Agent, Message
from judges import run_search, search_index
from judges.models import Judgement, Verdict
from tests.api_client import Api, issue_token, launch_via_api
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
    assert found["per_page"] == 20 and found["total"] == len(found["hits"]) >= 2  # a page as every list has it
    last = _hits(api, q="zanzibar", per_page=1, page=99)  # a page past the end: the last
    assert (last["page"], last["pages"], last["total"], len(last["hits"])) == (found["total"],) * 3 + (1,)

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


def test_a_judges_reasons_and_evidence_and_a_reviewers_comments_are_found_and_open_the_verdict(
    client, api, alice_client, bob, runs
):
    _, agents = runs
    verdict = Verdict.objects.get(agent=agents["Linus"])
    judgement = Judgement.objects.filter(verdict=verdict).first()
    assert judgement is not None  # the simulated panel judged Linus's work
    Judgement.objects.filter(pk=judgement.pk).update(
        reasons=["The okapi branch is never exercised"],
        checklist=[
            {
                "kind": "acceptance",
                "item": "the quagga is tested",
                "status": "not_met",
                "evidence": "no test reaches wombat",
            }
        ],
    )
    note = {"path": "mathutil.py", "line": 2, "text": "Divide by the count, not the narwhal."}
    reviewer = Api(client, issue_token("bob"))
    rejected = reviewer.post(
        f"/api/verdicts/{verdict.pk}/reject", {"comment": "Fix the capybara case.", "line_comments": [note]}
    )
    assert rejected.status_code == 200, rejected.json()
    verdict_page = f"/reviews/verdicts/{verdict.pk}/"

    for word, kind in (("okapi", "judgement"), ("wombat", "judgement"), ("capybara", "review"), ("narwhal", "review")):
        found = _hits(api, q=word, kind=kind)
        assert found["total"] == 1, (word, found)
        hit = found["hits"][0]
        assert (hit["kind"], hit["agent"]["name"], hit["url"]) == (kind, "Linus", verdict_page), word
        start, end = hit["marks"][0]
        assert hit["snippet"][start:end].lower() == word
    assert _hits(api, q="quagga", kind="judgement")["total"] == 0  # a checklist item is the question, not the evidence
    assert _hits(api, q="capybara", kind="judgement")["total"] == 0
    everywhere = {h["kind"] for h in _hits(api, q="capybara")["hits"]}
    assert {"review", "message"} <= everywhere  # the agent was told the reviewer's words, too

    html = alice_client.get("/reviews/search/", {"q": "okapi OR narwhal"}).content.decode()
    assert f"href=\"{verdict_page}\">a judge's opinion of Linus's work</a>" in html
    assert f'href="{verdict_page}">the review of Linus\'s work</a>' in html
    assert "<mark>okapi</mark>" in html and "<mark>narwhal</mark>" in html

    Judgement.objects.filter(pk=judgement.pk).delete()  # the index follows a judgement that goes
    assert _hits(api, q="okapi")["total"] == 0


def test_each_outcome_finds_exactly_its_runs(client, api, alice_client, bob, runs):
    """One outcome per run, as a person reads it: the status now, and for a run that is back at work (or stopped)
    whether the last decision on its work was a rejection."""
    task, agents = runs
    reviewer = Api(client, issue_token("bob"))
    linus_verdict = Verdict.objects.get(agent=agents["Linus"])
    assert reviewer.post(f"/api/verdicts/{linus_verdict.pk}/reject", {"comment": "Try again."}).status_code == 200

    def run(name: str, status: str, *decisions: str) -> Agent:
        agent = Agent.objects.create(task=task, name=name, profile=agents["Ada"].profile, status=status)
        for decision in decisions:  # oldest first
            Verdict.objects.create(agent=agent, commit_sha="a" * 40, recommendation="approve", status=decision)
        return agent

    run("Grace", Agent.Status.ACCEPTED, Verdict.Status.REJECTED, Verdict.Status.APPROVED)  # rejected, then approved
    run("Frances", Agent.Status.STOPPED, Verdict.Status.REJECTED)  # stopped after a rejection
    run("Edsger", Agent.Status.ERROR)
    run("Barbara", Agent.Status.STOPPED, Verdict.Status.SUPERSEDED)
    run("Ken", Agent.Status.PAUSED)
    run("Dennis", Agent.Status.QUEUED, Verdict.Status.APPROVED, Verdict.Status.PENDING)
    for agent in Agent.objects.filter(task=task):
        Message.objects.create(agent=agent, text=f"A pelican for {agent.name}")

    assert Agent.objects.get(pk=agents["Linus"].pk).status == Agent.Status.RUNNING  # back at work after the rejection
    assert Agent.objects.get(pk=agents["Ada"].pk).status == Agent.Status.AWAITING_REVIEW
    expected = {
        "approved": {"Grace"},
        "rejected": {"Linus", "Frances"},
        "awaiting_review": {"Ada"},
        "failed": {"Edsger"},
        "stopped": {"Barbara"},
        "working": {"Ken", "Dennis"},
    }
    assert set(expected) == set(run_search.OUTCOMES)
    for outcome, names in expected.items():
        found = _hits(api, q="pelican", kind="message", outcome=outcome, per_page=100)
        assert {h["agent"]["name"] for h in found["hits"]} == names, outcome
    assert _hits(api, q="pelican", kind="message", per_page=100)["total"] == 8  # every run has exactly one outcome

    page = alice_client.get("/reviews/search/", {"q": "pelican", "outcome": "awaiting_review"}).content.decode()
    assert '<option value="awaiting_review" selected>awaiting review</option>' in page
    assert "<mark>pelican</mark> for Ada" in page and "for Linus" not in page
    schema = api.get("/api/openapi.json").json()
    search = schema["paths"]["/api/search"]["get"]["parameters"]
    assert next(p for p in search if p["name"] == "outcome")["schema"]["enum"] == list(expected)


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
    assert api.get("/api/search", {"q": "zanzibar", "per_page": 500}).json()["field"] == "per_page"
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
            cursor.execute(
                "SELECT count(*) FROM swarm_run_search WHERE rowid = %s", [message.pk * search_index.SPAN + 2]
            )
            assert cursor.fetchone()[0] == 0


def test_a_transcript_message_rewritten_in_place_is_found_as_rewritten(api, runs):
    """A step saves its conversation as an upsert (bulk_create on conflict update): a message it rewrites (as
    compaction does) is searched by its new words only."""
    linus = runs[1]["Linus"]
    conversation = conversations.load(linus.pk)
    at = next(i for i, m in enumerate(conversation) if "finished" in (m.get("content") or ""))
    conversation[at] = {**conversation[at], "content": "This is quiescent."}
    assert conversations.save(linus.pk, linus.fencing_token, conversation)
    assert [h["agent"]["name"] for h in _hits(api, q="quiescent", kind="transcript")["hits"]] == ["Linus"]
    assert _hits(api, q="finished", kind="transcript")["total"] == 0


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


PG_INDEXES = {
    "transcript": "agents_conversationentry_search",
    "message": "agents_message_search",
    "verdict": "judges_verdict_search",
    "judgement": "judges_judgement_search",
    "review": "judges_review_search",
}


def _plans() -> dict[str, str]:
    """How PostgreSQL would answer the search's own query for each kind."""
    query = run_search._pg_query(run_search.parse('finished OR "edge case" zanzib*'))
    with transaction.atomic():
        with connection.cursor() as cursor:  # a test's tables are tiny: reading them whole would win otherwise
            cursor.execute("SET LOCAL enable_seqscan = off")
        return {kind: run_search.pg_matches(kind, query, Agent.objects.values("id")).explain() for kind in PG_INDEXES}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's indexes (the suite's PostgreSQL pass)")
def test_on_postgresql_the_search_reads_a_stored_index_and_the_migration_takes_it_back(transactional_db):
    for kind, plan in _plans().items():
        assert f"Bitmap Index Scan on {PG_INDEXES[kind]}" in plan, plan
    executor = MigrationExecutor(connection)
    executor.migrate([("judges", "0007_run_search_fts")])
    try:
        assert not any(PG_INDEXES[kind] in plan for kind, plan in _plans().items())
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    assert all(f"Bitmap Index Scan on {PG_INDEXES[kind]}" in plan for kind, plan in _plans().items())
