"""A person is a layer too: an agent asks its supervisors a question (`ask_person`) and pauses on it; the question
waits in the attention queue and reaches those who may answer; the answer resumes the agent as an injected message
and its next turn acts on it; a question nobody answers is escalated to the team's admins, once."""

from __future__ import annotations

from datetime import timedelta

from django.core import mail
from django.utils import timezone

from agents import conversations, fleet, messaging
from agents.models import Agent, Event, Message
from agents.simulator import QUESTION
from notifications import services as notices
from notifications.models import Kind, Notice
from tests import factories
from tests.api_client import Api, issue_token, scoped_token


def _ask(demo) -> Agent:
    team, task = demo
    (agent,) = factories.launch_and_run(task, [("Quinn", "sim-curious")])
    agent.refresh_from_db()
    return agent


def _mailing(settings, *users) -> None:
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    settings.SWARM_NOTIFY_DIGEST_SECONDS = 0
    for user in users:
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])


def test_an_agent_that_asks_pauses_waits_in_the_attention_queue_and_reaches_those_who_may_answer(
    demo, settings, alice, bob, adele
):
    _mailing(settings, alice, bob, adele)
    quinn = _ask(demo)
    assert quinn.status == Agent.Status.PAUSED and quinn.waiting_for == "question"
    assert quinn.question == QUESTION
    asked = Event.objects.get(agent=quinn, kind=Event.Kind.QUESTION)
    assert asked.payload == {"question": QUESTION}
    waiting, total = fleet.attention_queue(Agent.objects.filter(task=quinn.task))
    assert [a.name for a in waiting] == ["Quinn"] and total == 1
    # operators (who may message) hear of it by e-mail with the question; the reviewer does not
    told = [m for m in mail.outbox if QUESTION in m.body]
    assert sorted(m.to[0] for m in told) == ["adele@example.com", "alice@example.com"]
    assert Notice.objects.get(kind=Kind.QUESTION).data["agent"] == {"id": quinn.pk, "name": "Quinn"}
    # the message form says it is a question, and offers the answer first
    offer = messaging.offer(quinn, alice)
    assert QUESTION in offer.note and offer.choices[0] == ("resume", "Answer; Quinn continues")


def test_the_answer_resumes_the_agent_and_its_next_turn_acts_on_it(demo, alice, victor, api, alice_client, client):
    quinn = _ask(demo)
    shown = api.get(f"/api/agents/{quinn.pk}").json()
    assert shown["waiting_for"] == "question" and shown["question"] == QUESTION
    # what the agent page's message form says and offers, through the API: the answer first
    offer = shown["message_offer"]
    assert offer["choices"][0] == {"then": "resume", "label": "Answer; Quinn continues"}
    page = alice_client.get(f"/agents/{quinn.pk}/").content.decode()
    assert offer["when"] == "on_resume" and QUESTION in offer["note"] and "Answer; Quinn continues" in page
    viewer = Api(client, issue_token("victor")).get(f"/api/agents/{quinn.pk}").json()["message_offer"]
    assert viewer["choices"] == [] and viewer["note"] == offer["note"]  # a viewer reads, and may not answer
    reader = Api(client, scoped_token("alice", "read")).get(f"/api/agents/{quinn.pk}").json()["message_offer"]
    assert reader["choices"] == []  # nor may alice's read token, whatever her role
    message, when = messaging.send(quinn, "Keep n-1: it is a sample estimate.", author=alice, then="resume")
    assert when == messaging.When.NEXT_STEP
    quinn.refresh_from_db()
    assert quinn.status == Agent.Status.RUNNING and quinn.question == ""
    assert api.get(f"/api/agents/{quinn.pk}").json()["question"] == ""
    factories.run_until_idle([quinn])
    quinn.refresh_from_db()
    message.refresh_from_db()
    assert message.state == Message.State.ANSWERED
    turns = [e.payload["text"] for e in Event.objects.filter(agent=quinn, kind=Event.Kind.MODEL_TURN).order_by("seq")]
    after = turns[3]  # list, read, ask, then the turn that read the answer
    assert after.startswith('You answered "Keep n-1: it is a sample estimate.", so I will keep dividing by n-1.')
    # it did what the answer said: no edit of mathutil.py, and it submitted saying so
    calls = [e.payload["tool"] for e in Event.objects.filter(agent=quinn, kind=Event.Kind.TOOL_CALL)]
    assert "edit_file" not in calls and calls[-1] == "submit"
    assert quinn.status == Agent.Status.AWAITING_REVIEW
    injected = [m["content"] for m in conversations.load(quinn.pk) if m["role"] == "user"]
    assert any("Keep n-1" in text for text in injected)


def test_an_answer_the_other_way_makes_it_fix_the_code(demo, alice):
    quinn = _ask(demo)
    messaging.send(quinn, "Divide by n, the plain average.", author=alice, then="resume")
    factories.run_until_idle([quinn])
    quinn.refresh_from_db()
    calls = [e.payload["tool"] for e in Event.objects.filter(agent=quinn, kind=Event.Kind.TOOL_CALL)]
    assert "edit_file" in calls and quinn.status == Agent.Status.AWAITING_REVIEW


def test_a_question_nobody_answers_is_escalated_to_the_admins_once(demo, settings, alice, adele):
    _mailing(settings, alice, adele)
    settings.SWARM_QUESTION_ESCALATE_MINUTES = 30
    quinn = _ask(demo)
    mail.outbox.clear()
    assert notices.escalate_questions() == 0  # asked just now
    Event.objects.filter(agent=quinn, kind=Event.Kind.QUESTION).update(created_at=timezone.now() - timedelta(hours=1))
    assert notices.escalate_questions() == 1
    assert notices.escalate_questions() == 0  # once per question
    assert [m.to for m in mail.outbox] == [["adele@example.com"]]  # the admin; the operator had the question already
    assert "Unanswered for 30 minutes: Quinn asks" in mail.outbox[0].subject + mail.outbox[0].body
    # answered: nothing more to escalate
    messaging.send(quinn, "Divide by n.", author=alice, then="resume")
    assert not Agent.objects.get(pk=quinn.pk).question


def test_a_question_must_be_a_non_empty_string(demo):
    from agents import guards, tools
    from agents.llm import ToolCall

    quinn = _ask(demo)
    state = guards.ToolState(quinn)
    for bad in ({}, {"question": ""}, {"question": ["a list"]}):
        text, *_ = tools.carry_out(quinn, ToolCall("c1", "ask_person", bad), state)
        assert text.startswith("REFUSED: ask_person needs a `question`") and not state.paused
