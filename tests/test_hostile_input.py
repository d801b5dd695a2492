"""Text no database or JSON answer can hold (NUL, lone surrogates) is cleaned on the way in, through the API, the
forms and a model's reply, so no later page or API answer fails. Run on SQLite by default and on PostgreSQL with
DATABASE_URL=postgresql://... (the NUL half only fails there)."""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError, transaction

from agents import conversations, services
from agents.models import Agent, Message
from tests import factories
from tests.openai_server import OpenAIServer, reply
from tests.real_models import launch_one

# JSON escapes a client may send: a lone high and low surrogate, and NUL
HOSTILE = "\\ud800 lone \\udfff and \\u0000 nul"
SHOWN = "\ufffd lone \ufffd and \ufffd nul"
RAW = json.loads('"' + HOSTILE + '"')  # what json.loads hands the server: a str no UTF-8 encoder takes


def raw_task(title: str) -> str:
    fields = f'"title": "{title}", "goal": "{HOSTILE}", "acceptance": ["{HOSTILE}"], "verify_command": "true"'
    return "{" + fields + ', "repo": "mathutil", "agents": [{"name": "Ada", "model": "sim-diligent"}]}'


def test_unstorable_text_cannot_be_saved_as_it_is(demo):
    """Positive control: without cleaning, a lone surrogate from a JSON body breaks the write on every engine."""
    _, task = demo
    text = RAW
    agent = Agent.objects.create(task=task, name="Raw", profile=task.team.model_profiles.first())
    with pytest.raises((UnicodeEncodeError, DatabaseError)), transaction.atomic():
        Message.objects.create(agent=agent, text=text)


def test_text_sent_through_the_api_is_stored_cleaned_and_every_answer_shows_it(api, alice_client, demo):
    created = api.post("/api/tasks", raw=raw_task(f"Fix mean {HOSTILE}"))
    assert created.status_code == 201, created.content
    task_id = created.json()["id"]
    assert created.json()["title"] == f"Fix mean {SHOWN}"
    launched = api.post(f"/api/tasks/{task_id}/launch")
    assert launched.status_code == 201
    ada = Agent.objects.get(task_id=task_id)
    sent = api.post(
        f"/api/agents/{ada.pk}/messages", raw='{"text": "please ' + HOSTILE + '", "client_msg_id": "' + HOSTILE + '"}'
    )
    assert sent.status_code == 201, sent.content
    assert Message.objects.get(agent=ada).text == f"please {SHOWN}"

    for path in (f"/api/tasks/{task_id}", f"/api/agents/{ada.pk}", f"/api/agents/{ada.pk}/events", "/api/tasks"):
        answer = api.get(path)
        assert answer.status_code == 200, path
        assert SHOWN in answer.content.decode(), path
    for page in (f"/tasks/{task_id}/", f"/agents/{ada.pk}/", "/"):
        html = alice_client.get(page)
        assert html.status_code == 200, page
        assert "lone \ufffd and \ufffd nul" in html.content.decode(), page

    # an unknown field named with a lone surrogate is a 400 that names it, not a 500
    odd = api.post(f"/api/agents/{ada.pk}/messages", raw='{"text": "x", "\\ud800": 1}')
    assert odd.status_code == 400 and "\ufffd" in odd.json()["error"]


def test_nul_in_a_form_is_refused_or_cleaned_and_the_pages_still_answer(alice_client, demo):
    _, task = demo
    ada = services.launch_task(task)[0]
    response = alice_client.post(f"/agents/{ada.pk}/messages/", {"text": "stop\x00 now", "mode": "queue"})
    assert response.status_code in {200, 302, 400}  # refused in words, or cleaned: never a 500
    for message in Message.objects.filter(agent=ada):
        assert "\x00" not in message.text
    edit = alice_client.post(
        f"/tasks/{task.pk}/edit/",
        {"title": "t\x00", "goal": "g", "acceptance_text": "a", "roster_text": "Eve = sim-lazy"},
    )
    assert edit.status_code in {200, 302, 400}
    task.refresh_from_db()
    assert "\x00" not in task.title
    assert alice_client.get(f"/agents/{ada.pk}/").status_code == 200
    assert alice_client.get(f"/tasks/{task.pk}/").status_code == 200


def test_a_models_reply_with_unstorable_text_is_cleaned_before_it_is_saved(demo, alice_client, monkeypatch):
    """The model is another party's server; here a real one (OpenAI protocol) that answers with JSON escapes."""
    monkeypatch.setenv("SWARM_TEST_KEY", "test-key-hostile")
    raw = RAW
    with OpenAIServer() as server:
        agent = launch_one(demo, server)
        server.script(reply(f"thinking {raw}", ("write_file", {"path": f"notes-{raw}.md", "content": raw})))
        factories.run_step(agent.pk)
        assert server.requests, "the model was called"
    agent.refresh_from_db()
    stored = json.dumps(conversations.load(agent.pk), ensure_ascii=False)
    assert "\ufffd" in stored and not any(0xD800 <= ord(c) <= 0xDFFF or c == "\x00" for c in stored)
    page = alice_client.get(f"/agents/{agent.pk}/")
    assert page.status_code == 200
    assert f"thinking {SHOWN}" in page.content.decode()
    assert alice_client.get(f"/api/agents/{agent.pk}/events").status_code in {200, 401}  # never a 500


def counts() -> tuple[int, ...]:
    from agents.models import Event, TaskSpec, TasteGuide

    return TaskSpec.objects.count(), Message.objects.count(), Event.objects.count(), TasteGuide.objects.count()


def test_huge_and_malformed_form_posts_get_4xx_and_write_nothing(alice_client, demo):
    _, task = demo
    ada = services.launch_task(task)[0]
    before = counts()
    big = "x" * (3 * 1024 * 1024)
    posts = [
        ("/tasks/new/", {"title": "big", "goal": big, "acceptance_text": "a", "roster_text": "Eve = sim-lazy"}),
        (f"/agents/{ada.pk}/messages/", {"text": big, "mode": "queue"}),
        (f"/tasks/{task.pk}/broadcast/", {"text": big, "mode": "queue"}),
        ("/taste/new/", {"name": "big", "rules_text": big}),
        ("/preview/", {"text": big}),
    ]
    for path, data in posts:
        response = alice_client.post(path, data)
        assert 400 <= response.status_code < 500, (path, response.status_code)
    for path in ("/tasks/new/", f"/agents/{ada.pk}/messages/"):
        broken = alice_client.generic(
            "POST", path, b"--zz\r\nContent-Disposition: form-data; name=\r\n\r\nx", "multipart/form-data; boundary=zz"
        )
        assert broken.status_code < 500, (path, broken.status_code)
        no_boundary = alice_client.generic("POST", path, b"text=hi", "multipart/form-data")
        assert no_boundary.status_code < 500, (path, no_boundary.status_code)
        not_utf8 = alice_client.generic("POST", path, b"text=%ff%fe%00&mode=queue", "application/x-www-form-urlencoded")
        assert not_utf8.status_code < 500, (path, not_utf8.status_code)
    assert counts()[0] == before[0] and counts()[3] == before[3]  # no task or guide half-written
    assert all("\x00" not in m.text for m in Message.objects.all())
    assert alice_client.get(f"/agents/{ada.pk}/").status_code == 200
