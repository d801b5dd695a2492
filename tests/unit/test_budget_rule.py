"""Which button a paused agent's header offers (grant budget or resume) follows Agent.needs_budget, the budget rule
the runtime pauses by, not the words of its status line; a grant is one transaction and never for finished work."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template.loader import render_to_string

from agents import services
from agents.models import Agent, Event
from agents.services import ServiceError
from tests.unit import builders

BUDGET_REASON = "tokens budget used up: a person can grant more"
LOOP_REASON = "looping: run repeated 5 times with the same result"


def header_buttons(agent: Agent) -> set[str]:
    html = render_to_string("agents/partials/agent_header.html", {"agent": agent, "controls": True})
    return {word for word in ("Grant", "Resume", "Stop", "Clean up") if f">{word}" in html}


@pytest.fixture
def task(team):
    return builders.task(team, budget_tokens=1000, budget_minutes=10, budget_usd=Decimal("1.00"))


def test_an_agent_paused_at_its_budget_is_offered_a_grant_not_a_resume(task):
    ada = builders.agent(task, status=Agent.Status.PAUSED, status_reason=BUDGET_REASON, tokens_in=1000)
    assert ada.needs_budget and ada.budget_used_up() == "tokens budget used up"
    assert header_buttons(ada) == {"Grant", "Stop"}


def test_a_paused_agent_out_of_budget_gets_the_grant_whatever_its_status_line_says(task):
    # paused for a loop on its last step, and out of tokens too: resuming alone would pause it again at once
    ada = builders.agent(task, status=Agent.Status.PAUSED, status_reason=LOOP_REASON, tokens_in=1200)
    assert ada.needs_budget
    assert header_buttons(ada) == {"Grant", "Stop"}


def test_once_the_task_has_budget_again_a_budget_pause_is_simply_resumed(task):
    ada = builders.agent(task, status=Agent.Status.PAUSED, status_reason=BUDGET_REASON, tokens_in=1000)
    task.budget_tokens = 5000  # an operator raised the task's budget since
    task.save()
    ada = Agent.objects.select_related("task", "profile").get(pk=ada.pk)
    assert not ada.needs_budget
    assert header_buttons(ada) == {"Resume", "Stop"}


def test_a_running_or_finished_agent_needs_no_grant_even_over_budget(task):
    running = builders.agent(task, "Ada", Agent.Status.RUNNING, tokens_in=5000)
    done = builders.agent(task, "Grace", Agent.Status.ACCEPTED, tokens_in=5000, worktree="/tmp/gone")
    assert not running.needs_budget and not done.needs_budget
    assert header_buttons(running) == {"Stop"}
    assert header_buttons(done) == {"Clean up"}


def test_a_grant_adds_half_the_budget_records_it_and_resumes_the_agent(task):
    ada = builders.agent(task, status=Agent.Status.PAUSED, status_reason=BUDGET_REASON, tokens_in=1000)
    services.grant_budget(ada, "alice")
    ada = Agent.objects.select_related("task").get(pk=ada.pk)
    assert (ada.extra_tokens, ada.extra_minutes, ada.extra_usd) == (1000, 5, Decimal("0.50"))
    assert ada.status == Agent.Status.RUNNING and not ada.needs_budget
    kinds = list(Event.objects.filter(agent=ada).values_list("kind", "payload"))
    assert kinds[0] == ("budget_granted", {"by": "alice", "minutes": 5})
    assert kinds[1][0] == "status" and kinds[1][1]["reason"] == "alice granted more budget"


@pytest.mark.parametrize("status", sorted(Agent.FINISHED))
def test_a_grant_to_finished_work_is_refused_and_changes_nothing(task, status):
    ada = builders.agent(task, status=status, tokens_in=1000)
    with pytest.raises(ServiceError) as refused:
        services.grant_budget(ada, "alice")
    assert refused.value.status == 409 and "has finished" in refused.value.message
    ada.refresh_from_db()
    assert (ada.extra_tokens, ada.status) == (0, status)
    assert not Event.objects.filter(agent=ada).exists()
