"""Acting on many agents at once: one POST names the agents (ticked ids, or every agent the filter keeps), each goes
through the one-agent service, and the answer says what happened to each."""

from __future__ import annotations

import pytest

from agents.models import Agent, Message, TaskSpec
from tests import factories

FLEET_SIZE = 120


@pytest.fixture
def crowd(demo):
    _, template = demo
    return factories.make_fleet(template, FLEET_SIZE)


def statuses(task) -> dict[int, str]:
    return dict(task.agents.values_list("pk", "status"))


def act(client, task, **data):
    return client.post(f"/tasks/{task.pk}/act/", data, headers={"HX-Request": "true"})


def test_stopping_ticked_agents_says_how_many_stopped_and_how_many_had_finished(crowd, alice_client):
    running = list(crowd.agents.filter(status="running").values_list("pk", flat=True)[:46])
    finished = list(crowd.agents.filter(status__in=Agent.FINISHED).values_list("pk", flat=True)[:4])
    response = act(alice_client, crowd, action="stop", ids=running + finished)
    assert response.status_code == 200
    assert "Stopped 46; 4 were already finished." in response.content.decode()
    after = statuses(crowd)
    assert {after[pk] for pk in running} == {"stopped"}
    assert crowd.agents.get(pk=running[0]).status_reason == "stopped by alice"
    assert sum(1 for s in after.values() if s == "running") == crowd.agents.filter(status="running").count() > 0


def test_an_id_of_another_team_refuses_the_whole_request_and_nothing_is_done(crowd, alice_client, mallory):
    theirs = factories.make_fleet(TaskSpec.objects.for_user(mallory).first(), 1, title="theirs").agents.get()
    ours = list(crowd.agents.filter(status="running").values_list("pk", flat=True)[:5])
    before, their_status = statuses(crowd), theirs.status
    response = act(alice_client, crowd, action="stop", ids=[*ours, theirs.pk])
    assert response.status_code == 400
    assert "1 of the selected agents are not agents of this task; nothing was done." in response.content.decode()
    assert statuses(crowd) == before
    theirs.refresh_from_db()
    assert theirs.status == their_status


def test_a_viewer_may_not_act_on_a_selection(crowd, client, victor):
    client.force_login(victor)
    before = statuses(crowd)
    response = act(client, crowd, action="stop", scope="filter")
    assert response.status_code == 403
    assert "Your role in this team is viewer" in response.content.decode()
    assert statuses(crowd) == before
    page = client.get(f"/tasks/{crowd.pk}/").content.decode()
    assert 'id="bulk-form"' not in page and "selectable" not in page  # no button the server would refuse


def test_a_reviewer_may_not_message_a_selection(crowd, bob_client):
    ids = list(crowd.agents.filter(status="running").values_list("pk", flat=True)[:3])
    response = act(bob_client, crowd, action="message", text="hello", ids=ids)
    assert response.status_code == 403
    assert not Message.objects.filter(agent_id__in=ids).exists()


def test_messaging_every_agent_the_filter_keeps_queues_one_message_each_once(crowd, alice_client):
    running = crowd.agents.filter(status="running", profile__family="acme")
    data = {"action": "message", "text": "wrap up in ten minutes", "scope": "filter", "status": "running"}
    data.update(family="acme", client_id="send-1")
    response = act(alice_client, crowd, **data)
    assert response.status_code == 200, response.content.decode()
    assert f"Messaged {running.count()}." in response.content.decode()
    again = act(alice_client, crowd, **data)  # the same form sent twice (a double click)
    assert again.status_code == 200
    assert Message.objects.filter(agent__task=crowd).count() == running.count()
    assert set(Message.objects.values_list("agent_id", flat=True)) == set(running.values_list("pk", flat=True))


def test_a_message_needs_text(crowd, alice_client):
    ids = list(crowd.agents.values_list("pk", flat=True)[:2])
    response = act(alice_client, crowd, action="message", text="  ", ids=ids)
    assert response.status_code == 400
    assert "A message needs some text." in response.content.decode()


def test_pause_then_resume_a_selection(crowd, alice_client):
    ids = list(crowd.agents.filter(status="running").values_list("pk", flat=True)[:10])
    waiting = list(crowd.agents.filter(status="awaiting_review").values_list("pk", flat=True)[:2])
    response = act(alice_client, crowd, action="pause", ids=ids + waiting)
    assert "Paused 10; 2 were not running." in response.content.decode()
    assert {statuses(crowd)[pk] for pk in ids} == {"paused"}
    assert crowd.agents.get(pk=ids[0]).status_reason == "paused by alice"
    response = act(alice_client, crowd, action="resume", ids=ids + waiting)
    assert "Resumed 10; 2 were not paused or in error." in response.content.decode()
    assert {statuses(crowd)[pk] for pk in ids} == {"running"}


def test_resume_leaves_an_agent_out_of_budget_to_a_grant(crowd, alice_client):
    broke = crowd.agents.filter(status="paused").first()
    Agent.objects.filter(pk=broke.pk).update(tokens_in=10_000_000)
    response = act(alice_client, crowd, action="resume", ids=[broke.pk])
    assert "Resumed 0; 1 needs more budget first (grant it)." in response.content.decode()
    response = act(alice_client, crowd, action="grant", ids=[broke.pk])
    assert "Granted more budget to 1." in response.content.decode()
    broke.refresh_from_db()
    assert broke.status == "running" and broke.extra_tokens > 0


def test_cleaning_up_a_selection_leaves_working_agents_alone(crowd, alice_client):
    working = list(crowd.agents.filter(status="running").values_list("pk", flat=True)[:3])
    gone = list(crowd.agents.filter(status="stopped").values_list("pk", flat=True)[:2])  # no worktree was ever made
    response = act(alice_client, crowd, action="cleanup", ids=working + gone)
    html = response.content.decode()
    assert "Cleaned up 0; 3 are still working (stop them first); 2 were cleaned up already." in html
    assert {statuses(crowd)[pk] for pk in working} == {"running"}


def test_without_javascript_the_form_redirects_back_to_the_same_view_with_the_outcome(crowd, alice_client):
    ids = list(crowd.agents.filter(status="running").values_list("pk", flat=True)[:2])
    response = alice_client.post(
        f"/tasks/{crowd.pk}/act/", {"action": "stop", "ids": ids, "status": "running", "sort": "cost"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/tasks/{crowd.pk}/?status=running&sort=cost"
    assert "Stopped 2." in alice_client.get(response["Location"]).content.decode()
