"""Telling people: a team's webhooks get signed JSON (retried, gathered into digests, only to hosts the operator
lists, never redirected), members get e-mail as their role and preferences say. Real HTTP receivers on 127.0.0.1,
Django's locmem e-mail backend; each status change goes through the services and signals the runtime uses."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents import services
from agents.models import Agent, Membership, Team
from judges.models import Verdict
from notifications import delivery
from notifications.models import Delivery, Kind, Notice, Webhook
from tests import factories
from tests.api_client import Api, scoped_token


class Receiver:
    """A webhook receiver on a free port: answers each request with the next scripted (status, headers), checks the
    signature with the secret it is given, and records what came."""

    def __init__(self):
        self.script: list[tuple[int, dict]] = []
        self.received: list[dict] = []
        self.secret = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stamp = self.headers.get("X-Swarm-Timestamp", "")
                expected = hmac.new(receiver.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                receiver.received.append(
                    {
                        "body": json.loads(body or b"{}"),
                        "verified": hmac.compare_digest(
                            self.headers.get("X-Swarm-Signature", ""), f"sha256={expected}"
                        ),
                        "fresh": abs(time.time() - int(stamp or 0)) < 300,
                        "path": self.path,
                    }
                )
                status, headers = receiver.script.pop(0) if receiver.script else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def notify_settings(settings):
    """The operator lists the local receivers' host; retries come fast; a short digest window."""
    settings.SWARM_WEBHOOK_HOSTS = ["127.0.0.1:*"]
    settings.SWARM_NOTIFY_BACKOFF = 0.05
    settings.SWARM_NOTIFY_BACKOFF_MAX = 0.2
    settings.SWARM_NOTIFY_DIGEST_SECONDS = 1
    settings.SWARM_PUBLIC_URL = "https://swarm.example.com"
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    return settings


def add_webhook(client, receiver: Receiver, name: str = "ops") -> Webhook:
    """The admin adds the webhook on its page; the secret is shown on that answer only."""
    response = client.post("/notifications/webhooks/", {"name": name, "url": receiver.url, "kinds": Kind.values})
    assert response.status_code == 201, response.content.decode()[:2000]
    hook = Webhook.objects.get(name=name)
    assert hook.secret in response.content.decode()
    receiver.secret = hook.secret
    assert hook.secret not in client.get("/notifications/webhooks/").content.decode()  # never shown again
    return hook


def drive_due(until, seconds: float = 30.0) -> None:
    """What the sweep does, until `until()` holds: send every delivery that is due (retries included). It returns as
    soon as `until()` holds: the patience only matters when it never does (the test's asserts then say why)."""
    deadline = time.monotonic() + seconds
    while not until() and time.monotonic() < deadline:
        delivery.send_due()
        time.sleep(0.05)


def test_a_webhook_is_retried_after_a_500_and_each_request_is_signed(
    notify_settings, receiver, launched, client, adele
):
    client.force_login(adele)
    hook = add_webhook(client, receiver)
    receiver.script = [(500, {}), (200, {})]
    ada = launched["Ada"]
    services.set_status(ada.pk, Agent.Status.ERROR, "model call failed: 401 bad key")
    sent = Delivery.objects.get(webhook=hook)
    assert sent.status == Delivery.Status.WAITING and sent.attempts == 1 and sent.response_code == 500
    drive_due(lambda: len(receiver.received) >= 2)
    sent.refresh_from_db()
    assert sent.status == Delivery.Status.DELIVERED and sent.attempts == 2 and sent.response_code == 200
    assert len(receiver.received) == 2
    assert all(r["verified"] and r["fresh"] for r in receiver.received)
    body = receiver.received[-1]["body"]
    assert body["count"] == 1 and body["delivery"] == sent.pk
    (item,) = body["notifications"]
    assert item["kind"] == "needs_person" and item["agent"] == {"id": ada.pk, "name": "Ada"}
    assert "401 bad key" in item["text"] and item["url"] == f"https://swarm.example.com/agents/{ada.pk}/"
    # the admin's delivery log says what happened
    page = client.get("/notifications/webhooks/").content.decode()
    row = page[page.index(f'id="delivery-{sent.pk}"') :].split("</tr>")[0]
    assert "delivered" in row and "<td>2</td>" in row and "<td>200</td>" in row and "answered 500" in row


def test_a_receiver_that_rejects_a_forged_signature_can_tell(notify_settings, receiver, launched, client, adele):
    client.force_login(adele)
    add_webhook(client, receiver)
    receiver.secret = "whsec_not-the-one"  # a receiver with another secret: nothing verifies
    services.set_status(launched["Ada"].pk, Agent.Status.ERROR, "boom")
    assert len(receiver.received) == 1 and not receiver.received[0]["verified"]


def test_several_things_at_once_arrive_as_one_digest(notify_settings, receiver, launched, client, adele):
    # a 5 s window: the four changes below must come within it (with 1 s, a loaded machine could take longer between
    # the first and the second, which then went out on its own)
    notify_settings.SWARM_NOTIFY_DIGEST_SECONDS = 5
    client.force_login(adele)
    hook = add_webhook(client, receiver)
    names = ["Ada", "Grace", "Linus", "Barbara"]
    for name in names:
        services.set_status(launched[name].pk, Agent.Status.ERROR, f"{name} broke")
    # the first goes out at once; the next three wait for the end of the digest window, together
    assert len(receiver.received) == 1
    assert Delivery.objects.filter(webhook=hook).count() == 2
    drive_due(lambda: len(receiver.received) >= 2)
    assert len(receiver.received) == 2
    digest = receiver.received[1]["body"]
    assert digest["count"] == 3
    assert [n["agent"]["name"] for n in digest["notifications"]] == names[1:]


def test_a_host_the_operator_did_not_list_is_refused_when_added_and_when_sent(
    notify_settings, receiver, launched, client, adele
):
    client.force_login(adele)
    response = client.post("/notifications/webhooks/", {"name": "meta", "url": "http://169.254.169.254/latest"})
    assert response.status_code == 400
    assert "169.254.169.254:80, which is not a host the operator allows for webhooks (SWARM_WEBHOOK_HOSTS)" in (
        response.content.decode()
    )
    notify_settings.SWARM_WEBHOOK_HOSTS = []
    response = client.post("/notifications/webhooks/", {"name": "ops", "url": receiver.url})
    assert response.status_code == 400 and "SWARM_WEBHOOK_HOSTS is empty" in response.content.decode()
    assert not Webhook.objects.exists()
    # positive control: while the host is listed, the receiver is reached
    notify_settings.SWARM_WEBHOOK_HOSTS = ["127.0.0.1:*"]
    hook = add_webhook(client, receiver)
    services.set_status(launched["Ada"].pk, Agent.Status.ERROR, "first")
    assert len(receiver.received) == 1
    # the operator narrows the list: the webhook already saved is refused at the next send
    notify_settings.SWARM_WEBHOOK_HOSTS = ["hooks.example.com"]
    notify_settings.SWARM_NOTIFY_DIGEST_SECONDS = 0
    services.set_status(launched["Grace"].pk, Agent.Status.ERROR, "second")
    refused = Delivery.objects.filter(webhook=hook).first()
    assert refused.status == Delivery.Status.FAILED and "SWARM_WEBHOOK_HOSTS" in refused.last_error
    assert len(receiver.received) == 1


def test_a_redirect_is_never_followed(notify_settings, launched, client, adele):
    first, elsewhere = Receiver(), Receiver()
    try:
        client.force_login(adele)
        hook = add_webhook(client, first)
        first.script = [(302, {"Location": elsewhere.url})]
        services.set_status(launched["Ada"].pk, Agent.Status.ERROR, "boom")
        sent = Delivery.objects.get(webhook=hook)
        assert sent.status == Delivery.Status.FAILED and sent.attempts == 1 and sent.response_code == 302
        assert "never follow redirects" in sent.last_error
        assert len(first.received) == 1 and elsewhere.received == []
    finally:
        first.close()
        elsewhere.close()


def test_a_webhook_gives_up_after_its_tries(notify_settings, receiver, launched, client, adele):
    notify_settings.SWARM_NOTIFY_TRIES = 3
    client.force_login(adele)
    hook = add_webhook(client, receiver)
    receiver.script = [(503, {})] * 5
    services.set_status(launched["Ada"].pk, Agent.Status.ERROR, "boom")
    sent = Delivery.objects.get(webhook=hook)
    drive_due(lambda: Delivery.objects.get(pk=sent.pk).status == Delivery.Status.FAILED)
    sent.refresh_from_db()
    assert sent.status == Delivery.Status.FAILED and sent.attempts == 3 and len(receiver.received) == 3
    assert sent.last_error.startswith("gave up after 3 tries")


def with_email(user, address):
    user.email = address
    user.save(update_fields=["email"])
    return user


def test_e_mail_goes_to_the_members_whose_role_acts_on_it_as_their_preferences_say(
    notify_settings, launched, client, alice, bob, victor
):
    notify_settings.SWARM_NOTIFY_DIGEST_SECONDS = 0
    for user in (alice, bob, victor):
        with_email(user, f"{user.username}@example.com")
    services.set_status(launched["Ada"].pk, Agent.Status.ERROR, "model call failed")
    # an agent in error is for those who may resume or stop it: alice (operator), not bob (reviewer) nor victor
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    assert "Ada stopped on an error" in mail.outbox[0].subject
    assert f"https://swarm.example.com/agents/{launched['Ada'].pk}/" in mail.outbox[0].body
    # alice keeps only "task finished" on her preferences page
    client.force_login(alice)
    response = client.post(
        "/notifications/",
        {"email_address": "alice@example.com", "email": "on", "kinds": [Kind.TASK_FINISHED]},
    )
    assert response.status_code == 302
    services.set_status(launched["Grace"].pk, Agent.Status.ERROR, "model call failed")
    assert len(mail.outbox) == 1 and Delivery.objects.filter(user=alice).count() == 1
    # victor turns e-mail off altogether; then the task finishes: alice and bob hear of it, victor does not
    client.force_login(victor)
    client.post("/notifications/", {"email_address": "victor@example.com", "kinds": Kind.values})
    mail.outbox.clear()
    services.stop_all(launched["Ada"].task, "alice")
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "bob@example.com"]
    assert all("finished: 0 accepted, 8 stopped" in m.subject for m in mail.outbox)
    assert Notice.objects.filter(kind=Kind.TASK_FINISHED).count() == 1  # once, however many agents stopped


def test_a_budget_used_up_and_a_verdict_waiting_are_told_to_whom_they_concern(notify_settings, demo, alice, bob):
    notify_settings.SWARM_NOTIFY_DIGEST_SECONDS = 0
    with_email(alice, "alice@example.com")
    with_email(bob, "bob@example.com")
    _, task = demo
    (ada,) = factories.launch_and_run(task, [("Ada", "sim-diligent")])
    verdict = Verdict.objects.get(agent=ada)
    assert [m.to for m in mail.outbox] == [["bob@example.com"]]  # reviewers hear of verdicts, operators do not
    assert "waits for a review" in mail.outbox[0].subject
    assert f"/reviews/verdicts/{verdict.pk}/" in mail.outbox[0].body
    mail.outbox.clear()
    Agent.objects.filter(pk=ada.pk).update(tokens_in=10**9)
    services.set_status(ada.pk, Agent.Status.PAUSED, "tokens budget used up: a person can grant more")
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (
            ["alice@example.com"],
            f"[Swarm] Ada used up its tokens budget on “{ada.task.title}”: grant more budget, or stop it.",
        )
    ]


def _queries(call) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as done:
        answer = call()
    return len(done), answer


def test_an_admin_of_many_teams_reads_their_webhooks_and_log_in_as_many_queries_as_of_one(client, demo, adele, alice):
    team, _ = demo
    admin = Api(client, scoped_token("adele", "admin"))

    def hook(on: Team, name: str) -> None:
        made = Webhook.objects.create(team=on, name=name, url="http://127.0.0.1:9/hook", secret="s")
        Delivery.objects.create(team=on, channel=Delivery.Channel.WEBHOOK, webhook=made)

    hook(team, "ops")
    one_list, listed = _queries(lambda: admin.get("/api/webhooks"))
    one_log, _ = _queries(lambda: admin.get("/api/webhooks/deliveries"))
    assert [w["name"] for w in listed.json()["webhooks"]] == ["ops"]
    for i in range(3):
        other = Team.objects.create(name=f"Other {i}")
        Membership.objects.create(team=other, user=adele, role=Membership.Role.ADMIN)
        hook(other, f"ops-{i}")
    theirs = Team.objects.create(name="Adele operates here")
    Membership.objects.create(team=theirs, user=adele, role=Membership.Role.OPERATOR)
    hook(theirs, "not-hers")

    many_list, listed = _queries(lambda: admin.get("/api/webhooks"))
    many_log, log = _queries(lambda: admin.get("/api/webhooks/deliveries"))
    assert sorted(w["name"] for w in listed.json()["webhooks"]) == ["ops", "ops-0", "ops-1", "ops-2"]
    assert sorted(d["recipient"] for d in log.json()["deliveries"]) == ["ops", "ops-0", "ops-1", "ops-2"]
    assert (many_list, many_log) == (one_list, one_log)
