"""What the message form offers is what `send` accepts: for every agent state and every role, each choice the form
lists is sent, and each choice it leaves out is refused (with the field `then` named), never the other way round."""

from __future__ import annotations

import pytest

from agents import messaging
from agents.errors import FieldError, ServiceError
from agents.models import Agent, Membership, Message
from tests.unit import builders

Status = Agent.Status
# (label, status, the agent's other fields): every status, and the two whose choices depend on more than it
STATES = [(s.value, s.value, {}) for s in Status] + [
    ("paused_out_of_budget", Status.PAUSED, {"tokens_in": 10**9}),
    ("stopped_with_worktree", Status.STOPPED, {"worktree": "/nonexistent/worktrees/Ada"}),
]


def ada(team, status: str, fields: dict, name: str) -> Agent:
    agent = builders.agent(builders.task(team, title=f"Task of {name}"), name=name, status=status, **fields)
    if status == Status.AWAITING_REVIEW:
        agent.submitted_commit = builders.SHA
        agent.save(update_fields=["submitted_commit"])
        builders.verdict(agent)  # pending: there is a submission to withdraw
    return Agent.objects.select_related("task").get(pk=agent.pk)


@pytest.mark.parametrize("role", Membership.Role.values)
@pytest.mark.parametrize(("label", "status", "fields"), STATES, ids=[s[0] for s in STATES])
def test_offer_and_send_agree_on_every_choice(team, role, label, status, fields):
    user = builders.member(team, f"{role}-person", role)
    for then in messaging.Then.values:
        agent = ada(team, status, fields, f"Ada{then.capitalize()}")
        offered = then in [value for value, _ in messaging.offer(agent, user).choices]
        try:
            message, _ = messaging.send(agent, "Look at mean() again.", author=user, then=then, seen=agent.status)
        except ServiceError as refusal:
            assert not offered, f"{label}/{role}: {then} is offered, yet send refuses: {refusal.message}"
            assert isinstance(refusal, FieldError) and refusal.field == "then"
            assert refusal.status in (403, 409)
            assert not Message.objects.filter(agent=agent).exists()
        else:
            assert offered, f"{label}/{role}: {then} is not offered, yet send sends it"
            assert message.agent_id == agent.pk


def test_a_refusal_names_the_field_and_says_its_sentence_as_it_is(team):
    user = builders.member(team, "olga", Membership.Role.OPERATOR)
    agent = ada(team, Status.ACCEPTED, {}, "Ada")
    with pytest.raises(FieldError) as refused:
        messaging.send(agent, "One more thing.", author=user)
    assert (refused.value.field, refused.value.status) == ("then", 409)
    assert refused.value.message == "Ada has finished (accepted); it takes no more messages."
