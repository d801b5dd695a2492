"""Best of N: the same spec attempted by agents of two (simulated) model families, compared side by side; approving
one attempt closes the others with the reason, audited, and the statistics per family count it. Real git, the real
sandbox, the simulator."""

from __future__ import annotations

import re
from html import unescape

import pytest

from agents import services
from agents.models import Agent, Event, ModelProfile, TaskSpec
from judges import services as judging
from judges.models import Review, Verdict
from tests import factories
from tests.api_client import Api, issue_token, scoped_token
from tests.factories import run_until_idle

CLOSED = "closed: Ada's attempt was approved by bob"


@pytest.fixture
def best_of_two(demo):
    """A best-of-N task launched with Ada on family sim-a and Grace on family sim-b (both the diligent simulator)."""
    team, template = demo
    for name, family in (("diligent-a", "sim-a"), ("diligent-b", "sim-b")):
        ModelProfile.objects.create(team=team, name=name, model="sim/diligent", family=family)
    task = factories.task_like(template, [("Ada", "diligent-a"), ("Grace", "diligent-b")], best_of_n=True)
    agents = {a.name: a for a in services.launch_task(task)}
    return task, agents["Ada"], agents["Grace"]


def _pending(agent: Agent) -> Verdict:
    return Verdict.objects.get(agent=agent, status=Verdict.Status.PENDING)


def test_the_comparison_shows_both_attempts_and_approving_one_closes_the_other(best_of_two, bob, client):
    task, ada, grace = best_of_two
    run_until_idle([ada, grace])
    ada_verdict, grace_verdict = _pending(ada), _pending(grace)
    client.force_login(bob)

    page = client.get(f"/tasks/{task.pk}/compare/")
    assert page.status_code == 200
    html = page.content.decode()
    for agent in (ada, grace):
        agent.refresh_from_db()
        column = html.split(f'id="attempt-{agent.pk}"')[1].split("</article>")[0]
        assert agent.name in column and "sim/diligent" in column and "recommend approve" in column
        assert f"${agent.cost_usd:.4f}" in column and f"{agent.steps}" in column and "passed" in column
        diff_stat = Verdict.objects.get(agent=agent).evidence["diff_stat"]
        size = f"+{sum(int(f['added']) for f in diff_stat)} −{sum(int(f['removed']) for f in diff_stat)} in 1 file"
        text = unescape(re.sub(r"<[^>]+>", "", column))
        assert size in text and size != "+0 −0 in 1 file"
        assert "mathutil.py" in text and "return sum(values) / len(values)" in text  # the diff
        assert "Approve" in column
    assert "sim-a" in html and "sim-b" in html
    verdict_page = client.get(f"/reviews/verdicts/{grace_verdict.pk}/").content.decode()
    assert f'href="/tasks/{task.pk}/compare/"' in verdict_page

    judging.review_verdict(ada_verdict, bob, "approve")
    ada.refresh_from_db(), grace.refresh_from_db(), grace_verdict.refresh_from_db()
    assert ada.status == Agent.Status.ACCEPTED
    assert grace.status == Agent.Status.STOPPED and grace.status_reason == CLOSED
    assert grace_verdict.status == Verdict.Status.SUPERSEDED and grace_verdict.decided_by == bob
    audit = Review.objects.get(verdict=grace_verdict)
    assert (audit.reviewer, audit.decision, audit.outcome) == (bob, "close", CLOSED)
    assert Event.objects.filter(agent=grace, kind="status", payload__reason=CLOSED).count() == 1
    assert not Event.objects.filter(agent=grace, kind="brought_up_to_date").exists()  # closed, not brought along

    html = unescape(client.get(f"/tasks/{task.pk}/compare/").content.decode())
    assert CLOSED in html and "Approve Grace" not in html
    # a closed attempt can no longer be approved, even by a request made by hand
    with pytest.raises(services.ServiceError):
        judging.review_verdict(grace_verdict, bob, "approve")


def test_family_statistics_count_attempts_approvals_and_closed_attempts_across_tasks(best_of_two, bob, client):
    task, ada, grace = best_of_two
    run_until_idle([ada, grace])
    judging.review_verdict(_pending(ada), bob, "approve")
    client.force_login(bob)
    html = client.get("/dashboard/").content.decode()
    table = html.split('id="families"')[1].split("</table>")[0]
    rows = {r.split("<td>")[1].split("</td>")[0]: r for r in table.split("<tr")[2:]}
    assert '<td class="num">1</td><td class="num">1</td><td class="num">100%</td>' in rows["sim-a"]
    assert '<td class="num">1</td><td class="num">0</td><td class="num">0%</td><td class="num">1</td>' in rows["sim-b"]


def test_an_attempt_still_running_is_stopped_when_another_is_approved(best_of_two, bob):
    task, ada, grace = best_of_two
    run_until_idle([ada])
    judging.review_verdict(_pending(ada), bob, "approve")
    grace.refresh_from_db()
    assert grace.status == Agent.Status.STOPPED and grace.status_reason == CLOSED
    steps = grace.steps
    factories.run_step(grace.pk)  # a step already queued does nothing
    grace.refresh_from_db()
    assert grace.status == Agent.Status.STOPPED and grace.steps == steps


def test_a_second_attempt_is_not_approved_while_the_first_is_being_merged(best_of_two, bob):
    task, ada, grace = best_of_two
    run_until_idle([ada, grace])
    Verdict.objects.filter(agent=ada).update(status=Verdict.Status.MERGING)  # another reviewer's click, mid-merge
    grace_verdict = _pending(grace)
    with pytest.raises(services.ServiceError) as refused:
        judging.review_verdict(grace_verdict, bob, "approve")
    assert "Ada's attempt was approved" in refused.value.message
    grace_verdict.refresh_from_db()
    assert grace_verdict.status == Verdict.Status.PENDING
    assert Review.objects.get(verdict=grace_verdict).outcome.startswith("refused: Ada's attempt")


def test_another_team_gets_404_and_a_viewer_sees_the_comparison_without_approving(best_of_two, mallory, victor, client):
    task, ada, grace = best_of_two
    run_until_idle([ada, grace])
    client.force_login(mallory)
    assert client.get(f"/tasks/{task.pk}/compare/").status_code == 404
    client.force_login(victor)
    page = client.get(f"/tasks/{task.pk}/compare/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Ada" in html and "Grace" in html and "does not approve" in html and "Approve Ada" not in html
    assert client.get(f"/tasks/{task.pk}/").content.decode().count(f"/tasks/{task.pk}/compare/") == 1


def test_best_of_n_is_set_through_the_api_and_needs_two_agents(api, demo):
    body = {
        "repo": "mathutil",
        "title": "Fix mean, best of two",
        "goal": "mean([2, 4, 6]) must be 4.",
        "acceptance": ["The whole test suite passes"],
        "best_of_n": True,
    }
    alone = api.post("/api/tasks", {**body, "agents": [{"name": "Ada", "model": "sim-diligent"}]})
    assert alone.status_code == 400 and alone.json()["field"] == "best_of_n"
    agents = [{"name": "Ada", "model": "sim-diligent"}, {"name": "Linus", "model": "sim-lazy"}]
    made = api.post("/api/tasks", {**body, "agents": agents})
    assert made.status_code == 201, made.content
    assert made.json()["best_of_n"] is True


def test_the_task_form_sets_best_of_n_and_refuses_it_with_one_agent(alice_client, demo):
    _, template = demo
    fields = {
        "title": "Fix mean, best of two",
        "repo": template.repo.pk,
        "goal": template.goal,
        "acceptance_text": "\n".join(template.acceptance),
        "budget_minutes": 10,
        "budget_tokens": 100_000,
        "budget_usd": 1,
        "best_of_n": "on",
    }
    alone = alice_client.post("/tasks/new/", {**fields, "roster_text": "Ada = sim-diligent"})
    assert alone.status_code == 400 and "name at least two agents" in alone.content.decode()
    made = alice_client.post("/tasks/new/", {**fields, "roster_text": "Ada = sim-diligent\nLinus = sim-lazy"})
    assert made.status_code == 302
    task = TaskSpec.objects.get(title="Fix mean, best of two")
    assert task.best_of_n and len(task.roster) == 2


def test_a_verification_still_running_when_another_attempt_wins_leaves_no_pending_verdict(best_of_two, bob):
    task, ada, grace = best_of_two
    run_until_idle([ada, grace])
    judging.review_verdict(_pending(ada), bob, "approve")
    grace.refresh_from_db()
    # the verification that had claimed Grace's submission before the approval ends now (its claim is its own)
    late = judging._verify(grace.pk, grace.submitted_commit, "late")
    assert late.status == Verdict.Status.SUPERSEDED
    assert not Verdict.objects.filter(agent=grace, status=Verdict.Status.PENDING).exists()
    grace.refresh_from_db()
    assert grace.status == Agent.Status.STOPPED and grace.status_reason == CLOSED


def _column(html: str, agent: Agent) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html.split(f'id="attempt-{agent.pk}"')[1].split("</article>")[0]))


def test_the_api_compares_the_attempts_as_the_page_does_and_a_reviewer_picks_the_winner(
    best_of_two, client, bob, victor, mallory_api, api
):
    task, ada, grace = best_of_two
    run_until_idle([ada, grace])
    ada_verdict, grace_verdict = _pending(ada), _pending(grace)
    reviewer = Api(client, issue_token("bob"))
    url = f"/api/tasks/{task.pk}/compare"

    answer = reviewer.get(url)
    assert answer.status_code == 200, answer.json()
    doc = answer.json()
    assert doc["task"] == {"id": task.pk, "title": task.title, "best_of_n": True}
    assert (doc["total"], doc["page"], doc["pages"]) == (2, 1, 1)
    client.force_login(bob)
    html = client.get(f"/tasks/{task.pk}/compare/").content.decode()
    for attempt, agent, verdict in zip(doc["attempts"], (ada, grace), (ada_verdict, grace_verdict), strict=True):
        agent.refresh_from_db()
        column, shown = _column(html, agent), attempt["agent"]
        assert (shown["id"], shown["name"], shown["litellm_model"]) == (agent.pk, agent.name, "sim/diligent")
        assert shown["family"] in column and f"${shown['usage']['cost_usd']:.4f}" in column
        assert f"{shown['usage']['steps']}" in column and shown["usage"]["tokens"] == agent.tokens
        assert attempt["verdict"]["id"] == verdict.pk and attempt["verdict"]["recommendation"] == "approve"
        assert attempt["verdict"]["verification_passed"] and "passed" in column
        assert (
            attempt["verdict"]["verify"]["exit_code"] == 0
            and f"exit {attempt['verdict']['verify']['exit_code']}" in column
        )
        assert [j["recommendation"] for j in attempt["verdict"]["judges"]] and all(
            f"{j['judge']} ({j['family']}): {j['recommendation']}" in column for j in attempt["verdict"]["judges"]
        )
        size = attempt["diff"]
        assert size["added"] > 0 and f"+{size['added']} −{size['removed']} in {size['files']} file" in column
        assert attempt["approval"] == {"possible": True, "refusal": ""} and f"Approve {agent.name}" in column
    assert {a["agent"]["family"] for a in doc["attempts"]} == {"sim-a", "sim-b"}

    # the same comparison for others: a viewer sees why not, a stranger sees nothing, pages and bad queries
    seen = Api(client, issue_token("victor")).get(url).json()["attempts"][0]["approval"]
    assert not seen["possible"] and "Your role in this team is viewer" in seen["refusal"]
    assert api.get(url).json()["attempts"][0]["approval"]["possible"] is False  # alice operates, not reviews
    assert reviewer.get(url, {"per_page": 1, "page": 2}).json()["attempts"][0]["agent"]["name"] == "Grace"
    assert mallory_api.get(url).status_code == 404
    assert reviewer.get("/api/tasks/987654321/compare").status_code == 404
    for query, field in (({"sort": "cost"}, "sort"), ({"per_page": 0}, "per_page"), ({"page": "x"}, "page")):
        refused = reviewer.get(url, query)
        assert refused.status_code == 400 and refused.json()["field"] == field, refused.json()

    # picking the winner: the role and the token's scope as on POST /api/verdicts/{id}/approve
    choose = f"{url}/approve"
    assert api.post(choose, {"verdict": ada_verdict.pk}).status_code == 403
    assert Api(client, scoped_token("bob", "read")).post(choose, {"verdict": ada_verdict.pk}).status_code == 403
    assert mallory_api.post(choose, {"verdict": ada_verdict.pk}).status_code == 404
    other = Verdict.objects.exclude(agent__task=task).values_list("pk", flat=True).first() or 987654321
    for bad, field in (({"verdict": other}, "verdict"), ({"verdict": ada_verdict.pk, "winner": True}, "winner")):
        refused = reviewer.post(choose, bad)
        assert refused.status_code == 400 and refused.json()["field"] == field, refused.json()
    ada_verdict.refresh_from_db()
    assert ada_verdict.status == Verdict.Status.PENDING  # nothing was decided

    note = {"path": "mathutil.py", "line": 3, "text": "Nice and small."}
    won = reviewer.post(choose, {"verdict": ada_verdict.pk, "comment": "Ada's is simpler", "line_comments": [note]})
    assert won.status_code == 200, won.json()
    assert won.json()["approved"]["id"] == ada_verdict.pk and won.json()["approved"]["status"] == "approved"
    after = {a["agent"]["name"]: a for a in won.json()["attempts"]}
    assert after["Grace"]["agent"]["status"] == "stopped" and after["Grace"]["agent"]["status_reason"] == CLOSED
    assert after["Grace"]["verdict"]["status"] == "superseded" and not after["Grace"]["approval"]["possible"]
    review = Review.objects.get(verdict=ada_verdict, decision="approve")
    assert review.comment == "Ada's is simpler" and review.line_comments == [{**note, "line": "3"}]
    assert CLOSED in _column(client.get(f"/tasks/{task.pk}/compare/").content.decode(), grace)
    again = reviewer.post(choose, {"verdict": grace_verdict.pk})
    assert again.status_code == 409 and "already decided" in again.json()["error"]
