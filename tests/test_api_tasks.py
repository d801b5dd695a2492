"""Tasks through the API: written, launched and run to review; events paged with `after`; messages queued
once per client_msg_id; a reviewer approving and rejecting verdicts."""

from __future__ import annotations

from agents import services
from agents.models import Agent, Event, Message, TaskSpec
from judges.models import Review, Verdict
from tests import factories
from tests.api_client import Api, issue_token, launch_via_api, small_task
from tests.factories import run_until_idle


def test_an_operator_writes_and_launches_a_task_whose_agents_run_to_review(api, alice, demo):
    created = small_task(api, [("Ada", "sim-diligent"), ("Linus", "sim-lazy")])
    task = TaskSpec.objects.get(pk=created["id"])
    assert task.created_by == alice
    assert task.acceptance == ["mean([2, 4, 6]) == 4", "The whole test suite passes"]
    assert task.roster == [{"name": "Ada", "profile": "sim-diligent"}, {"name": "Linus", "profile": "sim-lazy"}]
    assert (task.budget_minutes, task.budget_tokens, str(task.budget_usd)) == (20, 100_000, "1.50")
    assert [g.name for g in task.taste_guides.all()] == created["taste_guides"] == ["House style"]
    assert [s.name for s in task.skills.all()] == created["skills"] == ["small-diff"]
    assert created["repo"]["name"] == "mathutil"
    assert created["agents"] == [] and created["launched_at"] is None

    launch = api.post(f"/api/tasks/{task.pk}/launch")
    assert launch.status_code == 201
    task.refresh_from_db()
    assert task.launched_at is not None
    answered = {a["name"]: a for a in launch.json()["agents"]}
    assert set(answered) == {"Ada", "Linus"}
    for name, agent in answered.items():
        assert agent["status"] == "running"
        assert agent["branch"] == f"swarm/{task.pk}/{name.lower()}"
    assert answered["Ada"]["model"] == "sim-diligent"

    again = api.post(f"/api/tasks/{task.pk}/launch")
    assert again.status_code == 409
    assert "already been launched" in again.json()["error"]
    assert Agent.objects.filter(task=task).count() == 2

    run_until_idle(Agent.objects.filter(task=task))
    detail = api.get(f"/api/tasks/{task.pk}")
    assert detail.status_code == 200
    assert detail.json()["agents_by_status"] == {"awaiting_review": 2}
    everyone = Agent.objects.filter(task=task)
    assert detail.json()["usage"] == {
        "tokens": sum(a.tokens for a in everyone),
        "cost_usd": 0.0,  # simulated models cost nothing
        "steps": sum(a.steps for a in everyone),
    }
    ada = Agent.objects.get(task=task, name="Ada")
    assert ada.status == Agent.Status.AWAITING_REVIEW
    body = api.get(f"/api/agents/{ada.pk}").json()
    assert body["status"] == "awaiting_review"
    assert body["usage"]["steps"] == ada.steps > 0
    assert body["usage"]["tokens"] == ada.tokens > 0
    assert "mathutil.py" in body["files_read"] and "mathutil.py" in body["files_edited"]
    assert body["budget"]["minutes"] == 20 and body["budget"]["usd"] == 1.5
    assert body["task"] == {"id": task.pk, "title": task.title}


def test_launching_the_demo_task_answers_its_eight_named_agents(api, demo):
    _, task = demo
    response = api.post(f"/api/tasks/{task.pk}/launch")
    assert response.status_code == 201
    assert Agent.objects.filter(task=task).count() == 8
    names = [a["name"] for a in response.json()["agents"]]
    assert names == ["Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Ken", "Radia"]
    assert all(a["id"] and a["branch"] and a["status"] == "running" for a in response.json()["agents"])


def test_events_page_with_after_and_show_a_posted_message_being_delivered(api, demo):
    task, agents = launch_via_api(api, [("Ada", "sim-diligent")])
    ada = agents["Ada"]
    first = api.get(f"/api/agents/{ada.pk}/events")
    assert first.status_code == 200
    seen = [e["seq"] for e in first.json()["events"]]
    assert seen == list(range(1, len(seen) + 1))  # gapless from 1
    cursor = first.json()["next_after"]
    assert cursor == seen[-1] and first.json()["more"] is False

    posted = api.post(f"/api/agents/{ada.pk}/messages", {"text": "Please also check the empty case."})
    assert posted.status_code == 201
    message = Message.objects.get(agent=ada)
    assert (message.state, message.author.username) == ("queued", "alice")
    assert posted.json()["id"] == message.pk and posted.json()["state"] == "queued"

    factories.run_step(ada.pk)
    message.refresh_from_db()
    assert message.state in {"delivered", "answered"}
    later = api.get(f"/api/agents/{ada.pk}/events", {"after": cursor}).json()["events"]
    assert [e["seq"] for e in later] == list(range(cursor + 1, cursor + 1 + len(later)))
    kinds = [e["kind"] for e in later]
    assert "message" in kinds and "message_delivered" in kinds
    delivered = next(e for e in later if e["kind"] == "message_delivered")
    assert delivered["payload"]["message_id"] == message.pk
    sent = next(e for e in later if e["kind"] == "message")
    assert sent["payload"]["text"] == "Please also check the empty case."
    assert sent["message_state"] == message.state

    # a long log comes in pages of 500, each starting where the last one ended
    services.append_events(ada.pk, [("note", {"i": i}) for i in range(620)])
    total = Event.objects.filter(agent=ada).count()
    seqs, after, pages = [], 0, 0
    while True:
        page = api.get(f"/api/agents/{ada.pk}/events", {"after": after}).json()
        pages += 1
        seqs += [e["seq"] for e in page["events"]]
        after = page["next_after"]
        if not page["more"]:
            break
    assert pages == 2
    assert seqs == list(range(1, total + 1))
    assert api.get(f"/api/agents/{ada.pk}/events", {"after": "-1"}).json()["field"] == "after"


def test_a_message_sent_twice_with_one_client_msg_id_is_queued_once(api, demo):
    _, agents = launch_via_api(api, [("Ada", "sim-diligent"), ("Grace", "sim-diligent")])
    ada = agents["Ada"]
    first = api.post(f"/api/agents/{ada.pk}/messages", {"text": "steer left", "mode": "steer", "client_msg_id": "m-1"})
    second = api.post(f"/api/agents/{ada.pk}/messages", {"text": "steer left", "mode": "steer", "client_msg_id": "m-1"})
    assert first.status_code == second.status_code == 201
    assert Message.objects.filter(agent=ada).count() == 1
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["mode"] == "steer"
    # ids are the sender's, per agent: the same id sent to another agent is that agent's own message
    elsewhere = api.post(f"/api/agents/{agents['Grace'].pk}/messages", {"text": "hello", "client_msg_id": "m-1"})
    assert elsewhere.status_code == 201
    assert Message.objects.get(agent=agents["Grace"]).text == "hello"

    services.stop(ada, "alice")
    finished = api.post(f"/api/agents/{ada.pk}/messages", {"text": "one more thing"})
    assert finished.status_code == 409
    assert "takes no more messages" in finished.json()["error"]
    assert Message.objects.filter(agent=ada).count() == 1


# ---------------------------------------------------------------- verdicts


def test_a_reviewer_lists_pending_verdicts_and_approves_one_and_rejects_another(client, api, bob, demo):
    _, agents = launch_via_api(api, [("Ada", "sim-diligent"), ("Linus", "sim-lazy")])  # alice, the operator, launches
    api = Api(client, issue_token("bob"))
    run_until_idle(agents.values())
    queue = api.get("/api/verdicts")
    assert queue.status_code == 200
    pending = {v["agent"]["name"]: v for v in queue.json()["verdicts"]}
    assert set(pending) == {"Ada", "Linus"}
    assert pending["Ada"]["recommendation"] == "approve" and pending["Linus"]["recommendation"] == "reject"
    assert pending["Ada"]["evidence"]["verify"]["exit_code"] == 0

    approved = api.post(f"/api/verdicts/{pending['Ada']['id']}/approve", {})
    assert approved.status_code == 200
    ada_verdict = Verdict.objects.get(pk=pending["Ada"]["id"])
    assert (ada_verdict.status, ada_verdict.decided_by) == ("approved", bob)
    assert Agent.objects.get(pk=agents["Ada"].pk).status == Agent.Status.ACCEPTED
    assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == "bob"

    reject = f"/api/verdicts/{pending['Linus']['id']}/reject"
    note = {"path": "mathutil.py", "line": 2, "text": "Divide by the count here."}
    for bad, field in (
        ({**note, "line": 0}, "line_comments[0].line"),
        ({**note, "text": " "}, "line_comments[0].text"),
    ):
        refused = api.post(reject, {"comment": "x", "line_comments": [bad]})
        assert refused.status_code == 400 and refused.json()["field"] == field, refused.json()
    rejected = api.post(reject, {"comment": "You changed nothing; fix mean().", "line_comments": [note]})
    assert rejected.status_code == 200
    linus = Agent.objects.get(pk=agents["Linus"].pk)
    assert Verdict.objects.get(pk=pending["Linus"]["id"]).status == "rejected"
    assert linus.status == Agent.Status.RUNNING
    feedback = Message.objects.get(agent=linus)
    assert "You changed nothing; fix mean()." in feedback.text and feedback.author == bob
    assert "Comment on mathutil.py line 2: Divide by the count here." in feedback.text  # as the review page's
    assert Review.objects.filter(verdict_id=pending["Linus"]["id"], decision="reject").count() == 1

    twice = api.post(f"/api/verdicts/{pending['Ada']['id']}/reject", {"comment": "changed my mind"})
    assert twice.status_code == 409
    assert "already decided" in twice.json()["error"]
    assert Verdict.objects.get(pk=pending["Ada"]["id"]).status == "approved"
    assert api.get("/api/verdicts").json()["verdicts"] == []
    assert len(api.get("/api/verdicts", {"status": "all"}).json()["verdicts"]) == 2
    assert api.get("/api/verdicts", {"status": "maybe"}).json()["field"] == "status"
