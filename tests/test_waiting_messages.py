"""A message to an agent that is not working says, before it is sent, what will happen: awaiting review (delivered
after a rejection, or withdraw the submission and continue), paused (delivered on resume, or resume with it), stopped
and accepted (refused, or resume with it). The page and the API apply the same rule (agents/messaging.py)."""

from __future__ import annotations

from html import escape

import pytest

from agents import conversations, services
from agents.models import Agent, Message
from judges import services as judging
from judges.models import Review, Verdict
from tests import factories

TEXT = "Also handle the empty list, please."


def message_box(client, agent) -> str:
    page = client.get(f"/agents/{agent.pk}/").content.decode()
    start = page.index('id="message-box"')
    return page[start : page.index("</section>", start)]


def post(client, agent, then="queue", seen=None, htmx=True, text=TEXT):
    headers = {"HX-Request": "true"} if htmx else {}
    seen = seen or Agent.objects.get(pk=agent.pk).status  # what the page showed, as it is now
    body = {"text": text, "mode": "queue", "then": then, "seen": seen}
    return client.post(f"/agents/{agent.pk}/messages/", body, headers=headers)


def delivered_to(agent) -> bool:
    return any(TEXT in (m.get("content") or "") for m in conversations.load(agent.pk) if m["role"] == "user")


@pytest.fixture
def submitted(demo):
    """Ada's submission awaits review with a pending verdict (verification passed)."""
    _, task = demo
    (ada,) = factories.launch_and_run(task, [("Ada", "sim-diligent")])
    ada.refresh_from_db()
    assert ada.status == Agent.Status.AWAITING_REVIEW
    return ada, Verdict.objects.get(agent=ada)


def test_a_running_agents_form_offers_the_delivery_modes_and_no_note(alice_client, launched):
    box = message_box(alice_client, launched["Ada"])
    assert 'name="mode"' in box and "interrupt: now" in box
    assert 'id="message-note"' not in box and 'id="message-choices"' not in box


def test_an_agent_awaiting_review_says_the_message_waits_for_a_rejection(client, submitted, alice, adele, bob):
    ada, verdict = submitted
    client.force_login(alice)  # an operator: may message, may not decide
    box = message_box(client, ada)
    assert "Ada is awaiting review. Your message waits: Ada reads it when it resumes" in box
    assert "If the work is approved, Ada stops and never reads it." in box
    assert "Withdraw the submission" not in box and 'name="mode"' not in box
    response = post(client, ada)
    assert response.status_code == 200
    assert "Sent: Ada reads it when it resumes, after a reviewer rejects its submission." in response.content.decode()
    message = Message.objects.get(agent=ada)
    assert message.state == Message.State.QUEUED
    ada.refresh_from_db()
    assert ada.status == Agent.Status.AWAITING_REVIEW  # nothing else changed
    # the reviewer rejects: the agent resumes and reads the message with the review
    judging.review_verdict(verdict, bob, "reject", "The empty case raises.")
    factories.run_step(ada.pk)
    message.refresh_from_db()
    assert message.state != Message.State.QUEUED and delivered_to(ada)
    # an admin (may message and decide) is offered to withdraw
    client.force_login(adele)
    assert "Withdraw the submission and continue with this message" not in message_box(client, ada)  # running now


def test_withdraw_and_continue_supersedes_the_verdict_with_an_audit_and_delivers(client, submitted, adele):
    ada, verdict = submitted
    client.force_login(adele)
    box = message_box(client, ada)
    assert 'value="withdraw"' in box and "Withdraw the submission and continue with this message" in box
    response = post(client, ada, then="withdraw")
    assert response.status_code == 200
    assert "Sent: Ada reads it at its next step." in response.content.decode()
    verdict.refresh_from_db()
    ada.refresh_from_db()
    assert verdict.status == Verdict.Status.SUPERSEDED and verdict.decided_by == adele
    audit = Review.objects.get(verdict=verdict)
    assert audit.decision == "withdraw" and audit.reviewer == adele and audit.commit_sha == verdict.commit_sha
    assert audit.outcome.startswith("withdrawn by adele")
    assert ada.status == Agent.Status.RUNNING and "submission withdrawn by adele" in ada.status_reason
    factories.run_step(ada.pk)
    assert delivered_to(ada)
    # the review queue no longer offers it
    assert not Verdict.objects.pending().filter(agent=ada).exists()


def test_an_operator_cannot_withdraw_and_nothing_happens(client, submitted, alice):
    ada, verdict = submitted
    client.force_login(alice)
    response = post(client, ada, then="withdraw")
    assert "only admins (who may both message and review) may" in response.content.decode()
    verdict.refresh_from_db()
    ada.refresh_from_db()
    assert verdict.status == Verdict.Status.PENDING and ada.status == Agent.Status.AWAITING_REVIEW
    assert not Message.objects.filter(agent=ada).exists() and not Review.objects.exists()


def test_a_paused_agent_gets_the_message_on_resume_or_resumes_with_it(alice_client, launched):
    ada, grace = launched["Ada"], launched["Grace"]
    for agent in (ada, grace):
        services.set_status(agent.pk, Agent.Status.PAUSED, "looping: list_files repeated 5 times")
        agent.refresh_from_db()
    box = message_box(alice_client, ada)
    assert "Ada is paused (looping: list_files repeated 5 times). Your message is delivered when it resumes." in box
    assert "Send it; Ada reads it when it resumes" in box and "Resume Ada with this message" in box
    # plain send: queued, and the agent stays paused (no silent resume either)
    post(alice_client, ada)
    ada.refresh_from_db()
    assert ada.status == Agent.Status.PAUSED and Message.objects.get(agent=ada).state == Message.State.QUEUED
    # resume with it: one call, running, delivered at the next step
    response = post(alice_client, grace, then="resume")
    assert "Sent: Grace reads it at its next step." in response.content.decode()
    grace.refresh_from_db()
    assert grace.status == Agent.Status.RUNNING and "resumed by alice with a message" in grace.status_reason
    factories.run_step(grace.pk)
    assert delivered_to(grace)


def test_an_agent_paused_with_its_budget_used_up_is_not_offered_a_plain_resume(alice_client, launched):
    ada = launched["Ada"]
    Agent.objects.filter(pk=ada.pk).update(tokens_in=10**9)
    services.set_status(ada.pk, Agent.Status.PAUSED, "tokens budget used up: a person can grant more")
    box = message_box(alice_client, ada)
    assert "its tokens budget is used up" in box and "once a person grants more budget" in box
    assert "Resume Ada with this message" not in box
    response = post(alice_client, ada, then="resume")
    assert "Grant more budget to resume it." in response.content.decode()
    assert not Message.objects.filter(agent=ada).exists()


def test_a_stopped_agent_refuses_a_plain_message_and_offers_to_resume_with_it(alice_client, launched):
    ada = launched["Ada"]
    services.stop(ada, "alice")
    ada.refresh_from_db()
    box = message_box(alice_client, ada)
    assert "Ada has finished (stopped); it takes no more messages. You may resume it with this one." in box
    assert ">Resume Ada with this message</button>" in box
    response = post(alice_client, ada, then="queue")
    html = response.content.decode()
    assert 'role="alert"' in html and "Send it with “resume with this message” instead." in html
    assert escape(TEXT) in html and not Message.objects.filter(agent=ada).exists()
    response = post(alice_client, ada, then="resume")
    ada.refresh_from_db()
    assert ada.status == Agent.Status.RUNNING and ada.finished_at is None
    factories.run_step(ada.pk)
    assert delivered_to(ada)


def test_an_accepted_agent_has_no_message_form(alice_client, launched):
    ada = launched["Ada"]
    services.set_status(ada.pk, Agent.Status.ACCEPTED, "approved")
    box = message_box(alice_client, ada)
    assert "Ada has finished (accepted); it takes no more messages." in box and "<form" not in box


def test_a_form_shown_while_running_does_not_send_after_the_agent_submitted(alice_client, submitted):
    ada, _ = submitted
    response = post(alice_client, ada, seen="running")
    html = response.content.decode()
    assert "Ada is now awaiting review. Ada is awaiting review." in html and "Nothing was sent; choose again." in html
    assert not Message.objects.filter(agent=ada).exists()


def test_the_api_says_when_the_message_is_read_and_refuses_with_the_field(api, admin_api, launched, demo):
    ada, grace, linus = launched["Ada"], launched["Grace"], launched["Linus"]
    sent = api.post(f"/api/agents/{ada.pk}/messages", {"text": TEXT})
    assert sent.status_code == 201 and sent.json()["delivery"]["when"] == "next_step"
    services.set_status(grace.pk, Agent.Status.PAUSED, "looping")
    waiting = api.post(f"/api/agents/{grace.pk}/messages", {"text": TEXT})
    assert waiting.status_code == 201
    assert waiting.json()["delivery"] == {"when": "on_resume", "note": "Sent: Grace reads it when it resumes."}
    services.stop(linus, "alice")
    refused = api.post(f"/api/agents/{linus.pk}/messages", {"text": TEXT})
    assert refused.status_code == 409
    assert refused.json()["field"] == "then" and "takes no more messages" in refused.json()["error"]
    withdraw = api.post(f"/api/agents/{ada.pk}/messages", {"text": TEXT, "then": "withdraw"})
    assert withdraw.status_code == 403 and withdraw.json()["field"] == "then"
    nothing = admin_api.post(f"/api/agents/{ada.pk}/messages", {"text": TEXT, "then": "withdraw"})
    assert nothing.status_code == 409 and "not awaiting review" in nothing.json()["error"]
    resumed = api.post(f"/api/agents/{linus.pk}/messages", {"text": TEXT, "then": "resume"})
    assert resumed.status_code == 201 and resumed.json()["delivery"]["when"] == "next_step"
    linus.refresh_from_db()
    assert linus.status == Agent.Status.RUNNING
    assert Message.objects.filter(agent=linus).count() == 1
