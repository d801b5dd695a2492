"""Deleting a task or a taste guide: through a service, never taking the audit trail of reviews with it."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.db.models import ProtectedError

from agents import services, task_setup
from agents.models import Agent, Event, Membership, TaskSpec, TasteGuide
from judges.models import Review, Verdict
from tests.unit import builders


@pytest.fixture
def alice_logged_in(team, client):
    # operator: may delete tasks and taste guides
    user = builders.member(team, "alice", Membership.Role.OPERATOR)
    client.force_login(user)
    return user


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def reviewed_task(team):
    """A finished task whose work a person approved: one verdict and the review that decided it."""
    task = builders.task(team)
    ada = builders.agent(task, status=Agent.Status.ACCEPTED)
    services.record_event(ada.pk, "status", {"status": "accepted", "reason": "approved"})
    verdict = builders.verdict(ada, status=Verdict.Status.APPROVED)
    Review.objects.create(verdict=verdict, decision="approve", commit_sha=verdict.commit_sha, outcome="merged 1234")
    return task, verdict


def test_a_reviewed_task_is_not_deleted_and_its_audit_trail_stays(team, alice_logged_in, client):
    task, verdict = reviewed_task(team)
    response = client.post(f"/tasks/{task.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == f"/tasks/{task.pk}/"
    assert said(response) == [
        f"“{task.title}” cannot be deleted: 1 verdict on its agents' work is the audit trail of what was reviewed"
        " and merged, which is never deleted. The task stays on record."
    ]
    assert TaskSpec.objects.filter(pk=task.pk).exists()
    assert Verdict.objects.filter(pk=verdict.pk).exists() and Review.objects.filter(verdict=verdict).count() == 1
    assert Event.objects.filter(agent__task=task).count() == 1  # nothing went, not even the agents' logs


def test_no_code_path_deletes_a_verdict_or_its_review_with_what_it_is_about(team):
    task, verdict = reviewed_task(team)
    for obj in (team, task, verdict.agent, verdict):
        with pytest.raises(ProtectedError):
            obj.delete()
    assert Review.objects.filter(verdict=verdict).exists()


def test_a_task_nobody_reviewed_is_deleted_with_its_agents_and_their_logs(team, alice_logged_in, client):
    task = builders.task(team)
    ada = builders.agent(task, status=Agent.Status.STOPPED)
    services.record_event(ada.pk, "status", {"status": "stopped", "reason": "stopped by alice"})
    response = client.post(f"/tasks/{task.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert said(response) == [f"Task “{task.title}” deleted. Its branches stay in the repository."]
    assert not TaskSpec.objects.filter(pk=task.pk).exists() and not Agent.objects.filter(pk=ada.pk).exists()
    assert not Event.objects.filter(agent_id=ada.pk).exists()


def test_a_task_whose_agents_still_work_is_not_deleted(team):
    task = builders.task(team)
    builders.agent(task, "Ada", Agent.Status.STOPPED)
    builders.agent(task, "Grace", Agent.Status.PAUSED)
    alice = builders.member(team, "alice", Membership.Role.OPERATOR)
    with pytest.raises(services.ServiceError) as refused:
        task_setup.delete_task(alice, task)
    assert refused.value.status == 409 and refused.value.message.startswith("Stop its agents")
    assert Agent.objects.filter(task=task).count() == 2


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.REVIEWER])
def test_a_role_that_may_not_edit_tasks_or_taste_deletes_neither(team, role):
    task, guide = builders.task(team), builders.guide(team)
    someone = builders.member(team, "someone", role)
    for call in (lambda: task_setup.delete_task(someone, task), lambda: task_setup.delete_taste_guide(someone, guide)):
        with pytest.raises(services.ServiceError) as refused:
            call()
        assert refused.value.status == 403 and f"Your role in this team is {role}" in refused.value.message
    assert TaskSpec.objects.filter(pk=task.pk).exists() and TasteGuide.objects.filter(pk=guide.pk).exists()


def test_a_taste_guide_working_agents_read_is_not_deleted_until_they_finish(team, alice_logged_in, client):
    guide = builders.guide(team)
    task = builders.task(team)
    task.taste_guides.add(guide)
    ada = builders.agent(task, status=Agent.Status.RUNNING)
    response = client.post(f"/taste/{guide.pk}/delete/")
    assert response.status_code == 302
    assert said(response) == [
        f"Taste guide “House style” is in use by “{task.title}”, whose agents are working and read it at every"
        " step. Remove it from the task, or stop its agents, first."
    ]
    assert TasteGuide.objects.filter(pk=guide.pk).exists()

    Agent.objects.filter(pk=ada.pk).update(status=Agent.Status.STOPPED)
    response = client.post(f"/taste/{guide.pk}/delete/")
    assert said(response)[-1] == "Taste guide “House style” deleted."  # the first redirect was not followed
    assert not TasteGuide.objects.filter(pk=guide.pk).exists() and not task.taste_guides.exists()
