"""Talking to a running agent: a message is queued, delivered once at the next step, then answered."""

from __future__ import annotations

import threading
from html import escape

import pytest
from django.db import connection
from django.test import Client

from agents import conversations, services
from agents.models import Agent, Event, Message, ModelProfile, TaskSpec
from tests import factories

TEXT = "Please also check that clamp() handles low > high."


@pytest.fixture
def ada(launched):
    return launched["Ada"]


def post_message(client, agent, text=TEXT, htmx=False, **extra):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/agents/{agent.pk}/messages/", {"text": text, "mode": "queue", **extra}, headers=headers)


def injected_entries(agent: Agent, text: str = TEXT) -> list[dict]:
    agent.refresh_from_db()
    return [m for m in conversations.load(agent.pk) if m["role"] == "user" and text in (m.get("content") or "")]


def test_message_from_the_agent_page_is_queued_with_an_event(alice_client, alice, ada):
    response = post_message(alice_client, ada)
    assert response.status_code == 302
    assert response["Location"] == f"/agents/{ada.pk}/"
    message = Message.objects.get(agent=ada)
    assert message.state == Message.State.QUEUED
    assert message.author == alice
    assert message.text == TEXT
    event = Event.objects.get(agent=ada, kind="message")
    assert event.payload["message_id"] == message.pk
    assert event.payload["sender"] == "alice"
    assert event.payload["text"] == TEXT
    page = alice_client.get(response["Location"]).content.decode()
    assert "message from alice" in page
    assert f'id="message-{message.pk}-receipt">queued<' in page


def test_the_page_shows_each_receipt_as_of_its_own_last_seq(alice_client, ada):
    """The page reads the log, then renders; a worker that delivers and answers the message in between must not make
    the receipt run ahead of the events shown (the socket replays them after the page's last seq: the receipt would
    go answered -> delivered -> answered). Here the message is answered but the log the page reads ends before it."""
    post_message(alice_client, ada)
    message = Message.objects.get(agent=ada)
    last_seq = ada.events.order_by("-seq").first().seq
    Message.objects.filter(pk=message.pk).update(state=Message.State.ANSWERED)  # ahead of the log, as in the race
    page = alice_client.get(f"/agents/{ada.pk}/").content.decode()
    assert f'data-last-seq="{last_seq}"' in page
    assert f'id="message-{message.pk}-receipt">queued<' in page
    # control: once the delivery and the answer are in the log, the page shows them
    Message.objects.filter(pk=message.pk).update(state=Message.State.QUEUED)
    factories.run_step(ada.pk)
    page = alice_client.get(f"/agents/{ada.pk}/").content.decode()
    assert f'id="message-{message.pk}-receipt">answered<' in page


def test_htmx_send_answers_with_a_fresh_message_box(alice_client, ada):
    response = post_message(alice_client, ada, htmx=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="message-box"' in html
    assert "<html" not in html  # a fragment, not the page
    assert TEXT not in html  # the box is emptied for the next message
    assert Message.objects.get(agent=ada).state == Message.State.QUEUED
    assert Event.objects.filter(agent=ada, kind="message").count() == 1


def test_next_step_delivers_the_message_once_and_the_agent_answers_it(alice_client, ada):
    post_message(alice_client, ada)
    factories.run_step(ada.pk)

    message = Message.objects.get(agent=ada)
    assert message.state == Message.State.ANSWERED
    assert message.delivered_at is not None and message.answered_at is not None
    entries = injected_entries(ada)
    assert len(entries) == 1
    assert entries[0]["content"].startswith("[Message from alice] ")
    kinds = list(ada.events.order_by("seq").values_list("kind", flat=True))
    assert kinds.count("message_delivered") == 1
    assert kinds.count("message_answered") == 1
    assert kinds.index("message") < kinds.index("message_delivered") < kinds.index("model_turn")
    assert kinds.index("model_turn") < kinds.index("message_answered")
    turn = ada.events.filter(kind="model_turn").order_by("seq").last()
    assert "I read your message" in turn.payload["text"]
    assert TEXT[:40] in turn.payload["text"]

    page = alice_client.get(f"/agents/{ada.pk}/").content.decode()
    assert f'id="message-{message.pk}-receipt">answered<' in page

    factories.run_step(ada.pk)  # the next step does not deliver it again
    assert len(injected_entries(ada)) == 1
    assert ada.events.filter(kind="message_delivered").count() == 1
    later = ada.events.filter(kind="model_turn").order_by("seq").last()
    assert later.pk != turn.pk and "I read your message" not in later.payload["text"]


def test_two_steps_at_once_deliver_the_message_once(alice_client, ada):
    post_message(alice_client, ada)
    barrier = threading.Barrier(2)
    errors = []

    def step():
        try:
            barrier.wait(timeout=10)
            factories.run_step(ada.pk)
        except Exception as exc:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=step) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert Message.objects.get(agent=ada).state == Message.State.ANSWERED
    assert ada.events.filter(kind="message_delivered").count() == 1
    assert len(injected_entries(ada)) == 1
    seqs = list(ada.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # and the log stays gapless


def test_message_to_a_stopped_agent_is_refused_clearly(alice_client, ada):
    services.stop(ada, "alice")
    ada.refresh_from_db()
    with pytest.raises(services.ServiceError) as refused:
        services.inject_message(ada, TEXT)
    assert refused.value.status == 409

    response = post_message(alice_client, ada, htmx=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html and "Ada has finished (stopped); it takes no more messages." in html
    assert escape(TEXT) in html  # what the person wrote is not lost

    response = post_message(alice_client, ada)
    assert response.status_code == 302
    page = alice_client.get(response["Location"]).content.decode()
    assert "Ada has finished (stopped); it takes no more messages." in page
    assert not Message.objects.filter(agent=ada).exists()
    assert not ada.events.filter(kind="message").exists()


def test_empty_message_is_refused_with_a_form_error(alice_client, ada):
    response = post_message(alice_client, ada, text="   \n ", htmx=True)
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()

    response = post_message(alice_client, ada, text="")
    assert response.status_code == 302
    page = alice_client.get(response["Location"]).content.decode()
    assert "Your message was not sent: This field is required." in page
    assert not Message.objects.filter(agent=ada).exists()
    assert not ada.events.filter(kind="message").exists()


def test_the_same_client_message_id_queues_the_message_once(alice_client, ada, launched):
    page = alice_client.get(f"/agents/{ada.pk}/").content.decode()
    assert 'name="client_msg_id" value="' in page  # the form carries one, so a double click is harmless
    first = post_message(alice_client, ada, htmx=True, client_msg_id="c-123")
    second = post_message(alice_client, ada, htmx=True, client_msg_id="c-123")
    assert first.status_code == second.status_code == 200
    assert Message.objects.filter(agent=ada).count() == 1
    assert ada.events.filter(kind="message").count() == 1
    assert services.inject_message(ada, TEXT, client_msg_id="c-123") == Message.objects.get(agent=ada)

    # ids are unique per agent: the same id aimed at another agent queues a message there
    grace = launched["Grace"]
    response = post_message(alice_client, grace, htmx=True, client_msg_id="c-123")
    assert response.status_code == 200
    assert Message.objects.get(agent=grace).client_msg_id == "c-123"

    other = post_message(alice_client, ada, htmx=True, client_msg_id="c-456")
    assert other.status_code == 200
    assert Message.objects.filter(agent=ada).count() == 2


def test_another_teams_message_ids_neither_collide_with_nor_reveal_ours(alice_client, ada, mallory):
    # Mallory's team runs its own agent; she sends first, with the id Alice's form is about to use
    malloryss_agent = services.launch_task(TaskSpec.objects.get(team__name="Other team"))[0]
    services.inject_message(malloryss_agent, "mine", author=mallory, client_msg_id="c-shared")
    response = post_message(alice_client, ada, htmx=True, client_msg_id="c-shared")
    assert response.status_code == 200
    assert "already used" not in response.content.decode()
    assert Message.objects.get(agent=ada).text == TEXT
    assert Message.objects.get(agent=malloryss_agent).text == "mine"


def test_teammate_message_is_marked_with_its_sender(adele, ada):
    # adele: a teammate of alice's (the team's admin) who also talks to agents
    adele_client = Client()
    adele_client.force_login(adele)
    post_message(adele_client, ada, text="Adele here: mind the empty list case.")
    factories.run_step(ada.pk)
    entries = injected_entries(ada, "mind the empty list case")
    assert [e["content"] for e in entries] == ["[Message from adele] Adele here: mind the empty list case."]


def test_a_message_survives_a_failed_model_call(alice_client, ada):
    good = ada.profile
    broken = ModelProfile.objects.create(team=ada.task.team, name="typo", model="sim/no-such-behaviour")
    Agent.objects.filter(pk=ada.pk).update(profile=broken)  # a person picked a model name that does not exist
    post_message(alice_client, ada)
    factories.run_step(ada.pk)
    ada.refresh_from_db()
    assert ada.status == Agent.Status.ERROR

    Agent.objects.filter(pk=ada.pk).update(profile=good)  # they fix the profile and resume
    alice_client.post(f"/agents/{ada.pk}/resume/")
    factories.run_step(ada.pk)
    assert len(injected_entries(ada)) == 1
    assert Message.objects.get(agent=ada).state == Message.State.ANSWERED


def test_a_broadcast_reaches_every_working_agent_once(alice_client, launched):
    stopped = launched["Radia"]
    services.stop(stopped, "alice")
    response = alice_client.post(f"/tasks/{stopped.task_id}/broadcast/", {"text": "Stand-up: mean() first."})
    assert response.status_code == 302
    got = Message.objects.filter(text="Stand-up: mean() first.")
    assert got.count() == len(launched) - 1
    assert not got.filter(agent=stopped).exists()
    assert all(m.state == Message.State.QUEUED for m in got)
