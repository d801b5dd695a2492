"""What a person may do to an agent (resume, pause, grant budget, clean up) has one rule each (Agent.*_refusal): the
header offers a button exactly when its rule and the role allow it, the services refuse (409, with the rule's
sentence) exactly what the rule refuses, and the bulk actions skip the same agents.

Every state is tried: each status, with its budget used up or not, with its worktree or without, for every role.
An agent awaiting review is moved only by a reviewer's decision: no resume, no grant, whatever the role."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import transaction
from django.template.loader import render_to_string

from agents import bulk, services
from agents.models import Agent, Membership
from agents.permissions import Grants
from agents.services import ServiceError
from judges import services as judging
from judges.models import Review, Verdict
from tests.unit import builders

ROLES = Membership.Role.values
# button (first word of its label) -> the rule that decides it
RULES = {
    "Grant": Agent.grant_refusal,
    "Resume": Agent.resume_refusal,
    "Pause": Agent.pause_refusal,
    "Clean": Agent.clean_up_refusal,
}
SERVICES = {
    "Grant": lambda agent: services.grant_budget(agent, "alice"),
    "Resume": lambda agent: services.resume(agent, "resumed by alice"),
    "Pause": lambda agent: services.pause(agent, "alice"),
    "Clean": lambda agent: services.clean_up(agent, "alice"),
}


@pytest.fixture
def every_agent_state(team):
    """One agent per status x budget (used up or not) x worktree (there or gone), in a task of 1,000 tokens."""
    task = builders.task(team, budget_tokens=1000, budget_minutes=10, budget_usd=Decimal("1.00"))
    agents = []
    for i, (status, used, worktree) in enumerate(itertools.product(Agent.Status.values, (0, 1000), ("/w", ""))):
        agents.append(builders.agent(task, f"agent{i}", status, tokens_in=used, worktree=worktree))
    return list(Agent.objects.filter(pk__in=[a.pk for a in agents]).select_related("task", "profile"))


def describe(agent: Agent) -> str:
    return f"{agent.status}/tokens={agent.tokens_in}/worktree={agent.worktree!r}"


def attempt(call, agent: Agent) -> ServiceError | None:
    """Call a service, then take back whatever it wrote: each state is tried from where the fixture left it."""
    with transaction.atomic():
        try:
            call(agent)
        except ServiceError as exc:
            return exc
        finally:
            transaction.set_rollback(True)
    return None


def test_the_header_offers_each_button_exactly_when_its_rule_and_the_role_allow_it(every_agent_state):
    assert len(every_agent_state) == len(Agent.Status.values) * 4
    offered = {word: 0 for word in [*RULES, "Stop"]}
    for agent in every_agent_state:
        for role in ROLES:
            controls = Grants(role).control
            shown = builders.buttons(
                render_to_string("agents/partials/agent_header.html", {"agent": agent, "controls": controls})
            )
            where = f"{describe(agent)} as {role}"
            for word, rule in RULES.items():
                assert shown.get(word, False) == (controls and not rule(agent)), f"{word}: {where}"
                offered[word] += shown.get(word, False)
            assert shown.get("Stop", False) == (controls and not agent.finished), where
            offered["Stop"] += shown.get("Stop", False)
            if agent.status == Agent.Status.AWAITING_REVIEW:
                assert not shown.get("Resume") and not shown.get("Grant"), where
    operators = sum(Grants(role).control for role in ROLES)  # operators and admins
    # per role that controls: Resume for paused with budget left (x2 worktrees) and error (x2 budgets x2 worktrees);
    # Grant for paused at its budget (x2); Pause for running (x4); Clean up for finished with a worktree (2 x2)
    assert offered == {
        "Resume": 6 * operators,
        "Grant": 2 * operators,
        "Pause": 4 * operators,
        "Clean": 4 * operators,
        "Stop": 6 * 4 * operators,
    }


@pytest.mark.parametrize("word", sorted(RULES))
def test_the_service_refuses_exactly_what_the_rule_refuses_with_its_sentence(every_agent_state, word):
    for agent in every_agent_state:
        rule = RULES[word](agent)
        refused = attempt(SERVICES[word], agent)
        if word == "Clean" and not rule:  # past the rule only git is left, and no repository is here
            assert refused is not None and refused.message.startswith("Clean-up failed"), describe(agent)
            continue
        assert (refused.message, refused.status) == (rule, 409) if rule else refused is None, describe(agent)
        assert Agent.objects.get(pk=agent.pk).status == agent.status  # a refusal, or a change taken back


def test_a_grant_resumes_only_an_agent_paused_at_its_budget(every_agent_state):
    for agent in every_agent_state:
        if attempt(SERVICES["Grant"], agent) is None:
            assert agent.needs_budget, describe(agent)


def test_a_role_that_may_control_but_not_review_cannot_resume_an_agent_awaiting_review(team, client):
    alice = builders.member(team, "alice", Membership.Role.OPERATOR)  # control, message; no review
    ada = builders.agent(builders.task(team), status=Agent.Status.AWAITING_REVIEW, worktree="/w")
    verdict = builders.verdict(ada)
    with pytest.raises(ServiceError) as refused:
        services.resume(ada, "resumed by alice")
    sentence = "Ada is awaiting review: only a reviewer's decision sends it back to work."
    assert (refused.value.status, refused.value.message) == (409, sentence)

    client.force_login(alice)
    response = client.post(f"/agents/{ada.pk}/resume/")
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [sentence]
    assert Agent.objects.get(pk=ada.pk).status == Agent.Status.AWAITING_REVIEW
    assert Verdict.objects.get(pk=verdict.pk).status == Verdict.Status.PENDING


def test_bulk_resume_and_grant_leave_agents_awaiting_review_or_in_error_to_their_own_path(every_agent_state, team):
    alice = builders.member(team, "alice", Membership.Role.OPERATOR)
    waiting = [a for a in every_agent_state if a.status in {Agent.Status.AWAITING_REVIEW, Agent.Status.ERROR}]
    broke = [a for a in every_agent_state if a.needs_budget]
    outcome = bulk.act(alice, team.pk, "grant", waiting + broke)
    assert str(outcome) == f"granted more budget to {len(broke)}; {len(waiting)} were not paused for budget."
    outcome = bulk.act(alice, team.pk, "resume", [a for a in waiting if a.status == Agent.Status.AWAITING_REVIEW])
    assert str(outcome) == "resumed 0; 4 were not paused or in error."
    after = dict(Agent.objects.filter(pk__in=[a.pk for a in waiting]).values_list("pk", "status"))
    assert after == {a.pk: a.status for a in waiting}
    assert {Agent.objects.get(pk=a.pk).status for a in broke} == {Agent.Status.RUNNING}


def test_a_rejection_whose_message_is_refused_leaves_the_verdict_pending_and_nothing_half_done(team):
    bob = builders.member(team, "bob", Membership.Role.REVIEWER)
    ada = builders.agent(builders.task(team), status=Agent.Status.AWAITING_REVIEW)
    verdict = builders.verdict(ada)
    with pytest.raises(ServiceError) as refused:  # the comment fits; with the verdict's reasons the message does not
        judging.review_verdict(verdict, bob, "reject", "x" * 19_990)
    assert refused.value.status == 413
    assert Verdict.objects.get(pk=verdict.pk).status == Verdict.Status.PENDING
    assert not Review.objects.filter(verdict=verdict).exists()
    assert Agent.objects.get(pk=ada.pk).status == Agent.Status.AWAITING_REVIEW
