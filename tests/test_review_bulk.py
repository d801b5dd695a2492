"""Deciding several verdicts at once, on the page and in the API: only what the rule allows is merged, each
decision is audited on its own, every refusal is named, and another team's verdicts are never touched."""

from __future__ import annotations

import pytest

from agents import worktrees
from agents.models import Agent, Membership
from judges.models import Review, Verdict
from tests.api_client import Api, issue_token
from tests.factories import launch_and_run, make_user
from tests.unit import builders


@pytest.fixture
def mix(demo, mallory):
    """Ada and Grace did the work (approvable); Linus did nothing (verification failed); Ken's verification passed
    but the panel recommends reject; Mallory's verdict is another team's."""
    _, task = demo
    agents = {a.name: a for a in launch_and_run(task, [("Ada", "sim-diligent"), ("Grace", "sim-diligent")])}
    agents.update({a.name: a for a in launch_and_run(task, [("Linus", "sim-lazy")])})
    ken = builders.agent(task, "Ken", Agent.Status.AWAITING_REVIEW)
    verdicts = {name: Verdict.objects.get(agent=agent) for name, agent in agents.items()}
    verdicts["Ken"] = builders.verdict(ken, recommendation="reject", verify=0)
    theirs = Membership.objects.get(user=mallory).team
    verdicts["Mallory"] = builders.verdict(builders.agent(builders.task(theirs), "Mallory"))
    return verdicts


def test_bulk_approval_merges_only_the_approvable_ones_each_audited_and_names_the_refusals(mix, bob_client, bob):
    ids = [v.pk for v in mix.values()]
    answer = bob_client.post("/reviews/decide/", {"ids": ids, "decision": "approve", "next": "/reviews/"}, follow=True)
    assert answer.status_code == 200
    html = answer.content.decode()
    assert "Approved 2, refused 3" in html
    assert "Linus: Verification did not pass" in html
    assert "Ken: The panel recommends reject" in html
    assert f"#{mix['Mallory'].pk}: not a verdict of this team" in html and "Mallory" not in html

    for name in ("Ada", "Grace"):
        verdict = Verdict.objects.get(pk=mix[name].pk)
        assert (verdict.status, verdict.decided_by) == ("approved", bob)
        review = Review.objects.get(verdict=verdict)  # each decision is its own audit row
        assert review.reviewer == bob and review.decision == "approve" and review.outcome.startswith("merged")
        assert Agent.objects.get(pk=verdict.agent_id).status == Agent.Status.ACCEPTED
    task = mix["Ada"].agent.task
    assert "return sum(values) / len(values)" in worktrees.git(task.repo.path, "show", "main:mathutil.py")
    for name in ("Linus", "Ken", "Mallory"):
        assert Verdict.objects.get(pk=mix[name].pk).status == "pending", name
        assert not Review.objects.filter(verdict=mix[name]).exists(), name  # nothing was attempted on them
    # the decided ones left the queue; the refused ones wait there still
    queue = bob_client.get("/reviews/").content.decode()
    assert f'id="queue-row-{mix["Linus"].pk}"' in queue and f'id="queue-row-{mix["Ada"].pk}"' not in queue
    history = bob_client.get("/reviews/history/", {"outcome": "approved", "reviewer": "bob"}).content.decode()
    assert f'id="history-row-{mix["Ada"].pk}"' in history and f'id="history-row-{mix["Grace"].pk}"' in history


def test_the_api_lists_a_page_sorted_and_filtered_and_decides_in_bulk(client, mix, demo, bob):
    api = Api(client, issue_token("bob"))
    page = api.get("/api/verdicts", {"per_page": 2, "page": 2})
    assert page.status_code == 200
    body = page.json()
    assert (body["total"], body["pages"], body["page"], body["per_page"]) == (4, 2, 2, 2)  # not Mallory's
    assert [v["agent"]["name"] for v in body["verdicts"]] == ["Linus", "Ken"]  # oldest first
    by_rec = api.get("/api/verdicts", {"sort": "recommendation"}).json()["verdicts"]
    assert [v["agent"]["name"] for v in by_rec][:2] == ["Linus", "Ken"]  # reject first
    passed = api.get("/api/verdicts", {"verification": "passed", "agent": "a"}).json()["verdicts"]
    assert {v["agent"]["name"] for v in passed} == {"Ada", "Grace"} and all(v["verification_passed"] for v in passed)
    assert api.get("/api/verdicts", {"sort": "sideways"}).json()["field"] == "sort"

    ids = [v.pk for v in mix.values()]
    viewer = Api(client, issue_token(make_user("vera", demo[0], "viewer").username))
    refused = viewer.post("/api/verdicts/decide", {"ids": ids, "decision": "approve"})
    assert refused.status_code == 403 and "only reviewer or admin" in refused.json()["error"]
    assert not Review.objects.exists()

    decided = api.post("/api/verdicts/decide", {"ids": ids, "decision": "approve"})
    assert decided.status_code == 200
    out = decided.json()
    assert sorted(v["agent"]["name"] for v in out["decided"]) == ["Ada", "Grace"]
    assert all(v["status"] == "approved" and v["decided_by"] == "bob" for v in out["decided"])
    reasons = {r["agent"] or r["id"]: r["reason"] for r in out["refused"]}
    assert reasons["Linus"].startswith("Verification did not pass")
    assert reasons["Ken"].startswith("The panel recommends reject")
    assert reasons[mix["Mallory"].pk].startswith("not a verdict of this team")
    assert out["summary"].startswith("Approved 2, refused 3")
    assert Review.objects.filter(reviewer=bob, decision="approve").count() == 2

    # reject with one comment for all: the agents get it; then the decided list has all four
    rejected = api.post("/api/verdicts/decide", {"ids": ids, "decision": "reject", "comment": "Fix mean() first."})
    assert rejected.status_code == 200 and rejected.json()["summary"].startswith("Rejected 2, refused 3")
    assert Agent.objects.get(pk=mix["Linus"].agent_id).status == Agent.Status.RUNNING
    history = api.get("/api/verdicts", {"status": "decided", "reviewer": "bob"}).json()
    assert history["total"] == 4 and {v["status"] for v in history["verdicts"]} == {"approved", "rejected"}
    assert Verdict.objects.get(pk=mix["Mallory"].pk).status == "pending"
