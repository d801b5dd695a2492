"""The review queue and the past decisions at fleet size: one line per verdict, paged, sorted, filtered, kept
current by a cheap poll; the navigation's counters too. Rows only: no git (bulk approval merges: test_review_bulk)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import Agent, Membership, Team
from judges.models import Judgement, Review, Verdict
from tests.unit import builders


def listed(html: str, kind: str = "queue") -> list[str]:
    """The agents' names of the list's lines, top to bottom."""
    rows = re.findall(rf'<tr id="{kind}-row-\d+".*?</tr>', html, re.S)
    return [re.search(r'/agents/\d+/">([^<]+)</a>', row).group(1) for row in rows]


@pytest.fixture
def rita(team):
    # the team's reviewer
    return builders.member(team, "rita", Membership.Role.REVIEWER)


@pytest.fixture
def reviewer(client, rita):
    client.force_login(rita)
    return client


def waiting(task, name: str, minutes_ago: int, **fields) -> Verdict:
    verdict = builders.verdict(builders.agent(task, name, Agent.Status.AWAITING_REVIEW), **fields)
    Verdict.objects.filter(pk=verdict.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    return verdict


def test_sixty_verdicts_come_in_pages_of_fifty_one_line_each(team, reviewer, django_assert_max_num_queries):
    task = builders.task(team)
    for i in range(60):
        waiting(task, f"agent{i:02}", 120 - i)
    with django_assert_max_num_queries(14):  # one query for the lines, whatever their number
        first = reviewer.get("/reviews/")
    html = first.content.decode()
    assert first.status_code == 200
    assert listed(html) == [f"agent{i:02}" for i in range(50)]  # oldest first
    assert "1–50 of 60 waiting" in html and "page 1 of 2" in html
    assert "<textarea" not in html and "Reasons" not in html  # a line, not the full review: that is one click away
    assert html.count('href="/reviews/verdicts/') == 50

    second = reviewer.get("/reviews/", {"page": 2}).content.decode()
    assert listed(second) == [f"agent{i:02}" for i in range(50, 60)]
    assert "51–60 of 60 waiting" in second and 'rel="prev"' in second and 'rel="next"' not in second
    # a page past the end (verdicts decided meanwhile) shows the last page rather than nothing
    assert listed(reviewer.get("/reviews/", {"page": 9}).content.decode())[-1] == "agent59"


def test_the_queue_sorts_by_age_task_recommendation_and_disagreement(team, reviewer):
    fix, add = builders.task(team, "Fix mean()"), builders.task(team, "Add median()")
    ada = waiting(fix, "Ada", 50)
    waiting(fix, "Linus", 40, recommendation="reject", verify=1)
    grace = waiting(add, "Grace", 30, recommendation="needs_person")
    ken = waiting(add, "Ken", 20)
    # the panels: two judges agree on Ada; two split on Grace; three judges say three things on Ken
    panels = {ada: ["approve"] * 2, grace: ["approve", "reject"], ken: ["approve", "reject", "needs_person"]}
    for verdict, opinions in panels.items():
        for i, opinion in enumerate(opinions):
            Judgement.objects.create(
                verdict=verdict, judge=f"j{i}", model="sim/judge", family=f"f{i}", recommendation=opinion
            )

    def order(sort: str) -> list[str]:
        return listed(reviewer.get("/reviews/", {"sort": sort}).content.decode())

    assert order("oldest") == ["Ada", "Linus", "Grace", "Ken"]
    assert order("newest") == ["Ken", "Grace", "Linus", "Ada"]
    assert order("task") == ["Grace", "Ken", "Ada", "Linus"]  # Add median() before Fix mean(), oldest first within
    assert order("recommendation") == ["Linus", "Grace", "Ada", "Ken"]  # reject, needs a person, then approve
    assert order("disagreement") == ["Ken", "Grace", "Ada", "Linus"]
    html = reviewer.get("/reviews/").content.decode()
    assert "split: 3 views among 3" in html and "split: 2 views among 2" in html
    assert "2 agree" in html and "no panel" in html  # Ada's judges; Linus had none


def test_the_queue_filters_by_task_agent_recommendation_and_verification(team, reviewer):
    fix, add = builders.task(team, "Fix mean()"), builders.task(team, "Add median()")
    waiting(fix, "Ada", 50)
    waiting(fix, "Adam", 45, checks=(0, 1))  # a criterion check failed: verification failed
    waiting(fix, "Linus", 40, recommendation="reject", verify=1)
    waiting(add, "Grace", 30, recommendation="needs_person", verify=None)

    def names(**query) -> list[str]:
        return listed(reviewer.get("/reviews/", query).content.decode())

    assert names(task=add.pk) == ["Grace"]
    assert names(agent="ad") == ["Ada", "Adam"]  # part of the name, any case
    assert names(recommendation="reject") == ["Linus"]
    assert names(verification="passed") == ["Ada"]
    assert names(verification="failed") == ["Adam", "Linus", "Grace"]
    assert names(task=fix.pk, verification="failed", recommendation="approve") == ["Adam"]
    nothing = reviewer.get("/reviews/", {"agent": "zed"}).content.decode()
    assert "No pending verdict matches these filters" in nothing
    # a filter value the page cannot read is said, and the whole queue shown
    wrong = reviewer.get("/reviews/", {"recommendation": "maybe"})
    assert wrong.status_code == 400 and "Ignored the filters: recommendation" in wrong.content.decode()
    assert listed(wrong.content.decode()) == ["Ada", "Adam", "Linus", "Grace"]


def test_the_live_list_answers_304_until_a_verdict_arrives_or_leaves(team, reviewer):
    task = builders.task(team)
    waiting(task, "Ada", 10)
    first = reviewer.get("/reviews/live/", {"sort": "oldest"})
    assert first.status_code == 200 and listed(first.content.decode()) == ["Ada"]
    tag = first["ETag"]
    page = reviewer.get("/reviews/", {"sort": "oldest"}).content.decode()
    assert "\\&quot;" + tag.strip('"') + "\\&quot;" in page  # the page's poll starts from what the page shows

    assert reviewer.get("/reviews/live/", {"sort": "oldest"}, headers={"if-none-match": tag}).status_code == 304

    grace = waiting(task, "Grace", 0)
    arrived = reviewer.get("/reviews/live/", {"sort": "oldest"}, headers={"if-none-match": tag})
    assert arrived.status_code == 200 and listed(arrived.content.decode()) == ["Ada", "Grace"]

    Verdict.objects.filter(pk=grace.pk).update(status=Verdict.Status.REJECTED)
    left = reviewer.get("/reviews/live/", {"sort": "oldest"}, headers={"if-none-match": arrived["ETag"]})
    assert left.status_code == 200 and listed(left.content.decode()) == ["Ada"]


def test_the_navigation_counters_are_polled_with_a_304_while_nothing_changes(team, reviewer):
    task = builders.task(team)
    waiting(task, "Ada", 10)
    builders.agent(task, "Ken", Agent.Status.PAUSED)  # paused at a budget: needs a person
    page = reviewer.get("/").content.decode()
    assert re.search(r'id="nav-reviews"[^>]*>1<', page) and re.search(r'id="nav-attention"[^>]*>2<', page)
    assert '"If-None-Match": "\\"2-1\\""' in page

    assert reviewer.get("/reviews/counts/", headers={"if-none-match": '"2-1"'}).status_code == 304
    waiting(task, "Grace", 0)
    counts = reviewer.get("/reviews/counts/", headers={"if-none-match": '"2-1"'})
    html = counts.content.decode()
    assert counts.status_code == 200 and counts["ETag"] == '"3-2"'
    assert re.search(r'id="nav-reviews"[^>]*hx-swap-oob="true">2<', html)
    assert '"\\"3-2\\""' in html  # the poller comes back with the new counts


def test_a_viewer_and_an_operator_cannot_decide_in_bulk(team, client):
    task = builders.task(team)
    verdict = waiting(task, "Linus", 5, recommendation="reject")
    for role in (Membership.Role.VIEWER, Membership.Role.OPERATOR):
        client.force_login(builders.member(team, f"someone-{role}", role))
        response = client.post("/reviews/decide/", {"ids": [verdict.pk], "decision": "reject", "comment": "no"})
        assert response.status_code == 403
        assert f"Your role in this team is {role}; only reviewer or admin may" in response.content.decode()
        assert 'name="ids"' not in client.get("/reviews/").content.decode()  # no boxes to tick either
    verdict.refresh_from_db()
    assert verdict.status == Verdict.Status.PENDING and not Review.objects.exists()


def test_bulk_decisions_name_what_the_rule_refuses_and_never_touch_another_team(team, reviewer, rita):
    task = builders.task(team)
    failed = waiting(task, "Adam", 30, verify=1)
    rejected = waiting(task, "Linus", 20, recommendation="reject")
    theirs = waiting(builders.task(Team.objects.create(name="Other team")), "Mallory", 10)

    answer = reviewer.post(
        "/reviews/decide/", {"ids": [failed.pk, rejected.pk, theirs.pk], "decision": "approve"}, follow=True
    )
    html = answer.content.decode()
    assert "Approved 0, refused 3" in html
    assert "Adam: Verification did not pass for this commit" in html
    assert "Linus: The panel recommends reject" in html
    assert f"#{theirs.pk}: not a verdict of this team" in html and "Mallory" not in html
    assert set(Verdict.objects.values_list("status", flat=True)) == {"pending"}

    # reject with one comment for all: each is decided and audited; the other team's still is not
    answer = reviewer.post(
        "/reviews/decide/",
        {"ids": [failed.pk, rejected.pk, theirs.pk], "decision": "reject", "comment": "Run the tests first."},
        follow=True,
    )
    assert "Rejected 2, refused 1" in answer.content.decode()
    for verdict in (failed, rejected):
        verdict.refresh_from_db()
        assert (verdict.status, verdict.decided_by) == ("rejected", rita)
        review = Review.objects.get(verdict=verdict)
        assert (review.reviewer, review.decision, review.comment) == (rita, "reject", "Run the tests first.")
    theirs.refresh_from_db()
    assert theirs.status == "pending" and not Review.objects.filter(verdict=theirs).exists()


def test_a_bulk_reject_without_a_comment_rejects_only_what_the_panel_recommended_rejecting(team, reviewer):
    task = builders.task(team)
    linus = waiting(task, "Linus", 20, recommendation="reject")
    ada = waiting(task, "Ada", 10)
    answer = reviewer.post("/reviews/decide/", {"ids": [linus.pk, ada.pk], "decision": "reject"}, follow=True)
    assert "Rejected 1, refused 1: Ada: Say why you reject" in answer.content.decode()
    assert Verdict.objects.get(pk=ada.pk).status == "pending"


def test_past_decisions_filter_by_task_agent_reviewer_outcome_and_date(team, reviewer, rita):
    fix, add = builders.task(team, "Fix mean()"), builders.task(team, "Add median()")
    bert = builders.member(team, "bert", Membership.Role.ADMIN)
    now = timezone.now()
    made = {
        "Ada": builders.verdict(builders.agent(fix, "Ada"), status="approved"),
        "Linus": builders.verdict(builders.agent(fix, "Linus"), status="rejected", recommendation="reject", verify=1),
        "Grace": builders.verdict(builders.agent(add, "Grace"), status="superseded"),
        "Ken": builders.verdict(builders.agent(add, "Ken"), status="rejected"),
    }
    builders.verdict(builders.agent(add, "Pending"))  # still waiting: not a past decision
    decided = {"Ada": (rita, 3), "Linus": (bert, 2), "Ken": (rita, 1)}
    for name, (who, days) in decided.items():
        Verdict.objects.filter(pk=made[name].pk).update(decided_by=who, decided_at=now - timedelta(days=days))
    Verdict.objects.filter(pk=made["Grace"].pk).update(created_at=now - timedelta(days=10))

    def names(**query) -> list[str]:
        response = reviewer.get("/reviews/history/", query)
        assert response.status_code == 200
        return listed(response.content.decode(), "history")

    assert names() == ["Ken", "Linus", "Ada", "Grace"]  # latest decision first
    assert names(task=add.pk) == ["Ken", "Grace"]
    assert names(agent="LIN") == ["Linus"]
    assert names(reviewer="rita") == ["Ken", "Ada"]
    assert names(outcome="rejected") == ["Ken", "Linus"]
    assert names(outcome="superseded") == ["Grace"]
    assert names(outcome="approved", reviewer="bert") == []
    day = lambda d: (now - timedelta(days=d)).date().isoformat()  # noqa: E731
    assert names(since=day(2)) == ["Ken", "Linus"]
    assert names(since=day(3), until=day(2)) == ["Linus", "Ada"]
    assert names(sort="oldest") == ["Grace", "Ada", "Linus", "Ken"]

    html = reviewer.get("/reviews/history/").content.decode()
    ada = made["Ada"].pk
    for link in (f"/reviews/verdicts/{ada}/", f"/reviews/verdicts/{ada}/#diff", f"/reviews/verdicts/{ada}/#audit"):
        assert f'href="{link}"' in html
    assert f'action="/reviews/verdicts/{ada}/patch/"' in html  # a POST: an export is recorded
    detail = reviewer.get(f"/reviews/verdicts/{ada}/").content.decode()
    assert 'id="diff"' in detail and 'id="audit"' in detail and 'href="/reviews/history/"' in detail
    assert 'href="/reviews/history/"' in reviewer.get("/reviews/").content.decode()  # linked from the queue
