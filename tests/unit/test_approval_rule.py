"""The review buttons and the review service follow one rule (Verdict.approval_refusal, rejection_refusal).

Every verdict state is tried: status x recommendation x verify command (passed, failed, not run) x criterion
checks (none, passed, one failed), for every role. The page offers Approve exactly when the service would get
past the rule, and the service refuses, with the reason the page shows, exactly the others."""

from __future__ import annotations

import itertools

import pytest
from django.template.loader import render_to_string

from agents.models import Agent, Membership
from agents.permissions import Grants, role_may
from agents.services import ServiceError
from judges import services
from judges.models import Review, Verdict
from tests.unit import builders

STATUSES = Verdict.Status.values
RECOMMENDATIONS = Verdict.Recommendation.values
VERIFY = {"passed": 0, "failed": 1, "not run": None}
CHECKS = {"no checks": (), "checks passed": (0, 0), "a check failed": (0, 2)}
ROLES = Membership.Role.values
BRANCH_MOVED = "The branch moved after this verdict; a new verification is needed."

buttons = builders.buttons


@pytest.fixture
def every_state(team):
    """One verdict per state, each on its own agent (a pending verdict is one per agent in the app too)."""
    task = builders.task(team)
    states = itertools.product(STATUSES, RECOMMENDATIONS, VERIFY.items(), CHECKS.items())
    verdicts = []
    for i, (status, recommendation, (_, verify), (_, checks)) in enumerate(states):
        agent = builders.agent(task, f"agent{i}", Agent.Status.AWAITING_REVIEW)
        verdicts.append(
            builders.verdict(agent, status=status, recommendation=recommendation, verify=verify, checks=checks)
        )
    related = ("agent", "agent__task", "agent__profile")
    return list(Verdict.objects.filter(pk__in=[v.pk for v in verdicts]).select_related(*related).order_by("pk"))


def describe(v: Verdict) -> str:
    return f"{v.status}/{v.recommendation}/verify={v.evidence.get('verify', {}).get('exit_code')}/" + ",".join(
        str(c["exit_code"]) for c in v.evidence["criterion_checks"]
    )


def test_the_rule_itself_reads_the_whole_evidence(team):
    ada = builders.agent(builders.task(team))
    assert builders.verdict(ada).can_approve()
    assert not builders.verdict(ada, checks=(0, 1)).can_approve()  # the case the old button got wrong
    assert not builders.verdict(ada, verify=None).can_approve()
    assert not builders.verdict(ada, verify=1).can_approve()
    assert not builders.verdict(ada, recommendation="reject").can_approve()
    assert not builders.verdict(ada, status="approved").can_approve()
    assert builders.verdict(ada, recommendation="needs_person").can_approve()
    moved = builders.verdict(ada)
    assert moved.can_approve(head=builders.SHA) and moved.approval_refusal(head="f" * 40) == BRANCH_MOVED


def test_the_approve_button_is_enabled_exactly_when_the_rule_and_the_role_allow_it(every_state):
    assert len(every_state) == 5 * 3 * 3 * 3
    offered = 0
    for verdict in every_state:
        for role in ROLES:
            html = render_to_string("judges/partials/verdict.html", {"verdict": verdict, "can": Grants(role)})
            shown = buttons(html)
            may_review = role_may(role, "review")
            where = f"{describe(verdict)} as {role}"
            assert shown.get("Approve", False) == (verdict.can_approve() and may_review), where
            assert shown.get("Reject", False) == (verdict.can_reject() and may_review), where
            if may_review and verdict.status == Verdict.Status.PENDING and not verdict.can_approve():
                assert "Approve" in shown and verdict.approval_refusal() in html, where  # disabled, saying why
            offered += shown.get("Approve", False)
    # 2 recommendations x passed verify x (no checks, checks passed), for the 2 roles that review
    assert offered == 2 * 2 * 2


def test_the_service_refuses_to_approve_exactly_what_the_rule_refuses_and_audits_it(every_state, team):
    bob = builders.member(team, "bob", Membership.Role.REVIEWER)
    for verdict in every_state:
        rule = verdict.approval_refusal()
        with pytest.raises(ServiceError) as refused:
            services.review_verdict(verdict, bob, "approve")
        # past the rule, only git can still refuse: here no repository has the branch, so it reads as moved
        assert refused.value.message == (rule or BRANCH_MOVED), describe(verdict)
        assert refused.value.status == 409
        audit = Review.objects.filter(verdict=verdict).get()
        assert audit.outcome == f"refused: {refused.value.message}" and audit.reviewer == bob
        fresh = Verdict.objects.get(pk=verdict.pk)
        assert fresh.status == verdict.status and fresh.decided_by is None


def test_the_service_rejects_exactly_what_the_rule_allows(every_state, team):
    bob = builders.member(team, "bob", Membership.Role.REVIEWER)
    # the rule for rejecting reads no evidence (the buttons' test above tries every state): checks vary no further
    states = [v for v in every_state if not v.evidence["criterion_checks"]]
    for verdict, comment in itertools.product(states, ["", "mean() still divides by n - 1"]):
        rule = verdict.rejection_refusal(has_reason=bool(comment))
        before = Verdict.objects.get(pk=verdict.pk).status
        if rule:
            with pytest.raises(ServiceError) as refused:
                services.review_verdict(verdict, bob, "reject", comment)
            assert refused.value.message == rule, describe(verdict)
            assert Verdict.objects.get(pk=verdict.pk).status == before
        else:
            services.review_verdict(verdict, bob, "reject", comment)
            assert Verdict.objects.get(pk=verdict.pk).status == Verdict.Status.REJECTED, describe(verdict)
            assert Agent.objects.get(pk=verdict.agent_id).status == Agent.Status.RUNNING


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.OPERATOR])
def test_a_role_that_does_not_review_is_refused_whatever_the_verdict(team, role):
    verdict = builders.verdict(builders.agent(builders.task(team), status=Agent.Status.AWAITING_REVIEW))
    assert verdict.can_approve()
    someone = builders.member(team, "someone", role)
    for decision in ("approve", "reject"):
        with pytest.raises(ServiceError) as refused:
            services.review_verdict(verdict, someone, decision, "no")
        assert refused.value.status == 403
    assert Verdict.objects.get(pk=verdict.pk).status == Verdict.Status.PENDING
