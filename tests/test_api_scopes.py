"""API tokens are named and scoped: read only reads, operate runs the work, review decides, admin sets the team up;
a scope narrows the user's role and never widens it. Tokens are made, listed and revoked from the team page and the
API, the raw token is shown once and only its hash is stored."""

from __future__ import annotations

import re
from io import StringIO

from django.core.management import call_command

from agents.models import Agent, ApiToken, Message, Repository
from judges.models import Verdict
from tests.api_client import Api, launch_via_api
from tests.factories import run_until_idle


def _token(username: str, scope: str, name: str = "") -> str:
    out = StringIO()
    call_command("api_token", username, "--scope", scope, "--name", name or f"{username} {scope}", stdout=out)
    return out.getvalue().strip()


def test_a_read_token_reads_and_every_write_is_refused_with_403(client, adele, demo):
    _, task = demo
    reader = Api(client, _token("adele", "read"))  # the team's admin, yet the token only reads
    assert reader.get("/api/tasks").status_code == 200
    assert reader.get(f"/api/tasks/{task.pk}").status_code == 200
    for method, path, body in (
        ("post", f"/api/tasks/{task.pk}/launch", None),
        ("post", "/api/repos", {"name": "x", "path": "/tmp"}),
        ("patch", f"/api/tasks/{task.pk}", {"title": "renamed"}),
        ("post", "/api/tokens", {"name": "wider", "scope": "admin"}),
    ):
        refused = getattr(reader, method)(path, body) if body is not None else getattr(reader, method)(path)
        assert refused.status_code == 403, (method, path)
        assert refused.json()["error"].startswith("This API token's scope is read: it may only read (GET)")
    assert not Agent.objects.filter(task=task).exists()
    assert task.title == type(task).objects.get(pk=task.pk).title
    assert ApiToken.objects.filter(user=adele).count() == 1


def test_an_operate_token_runs_the_work_and_may_not_decide_or_set_the_team_up(client, adele, demo):
    operator = Api(client, _token("adele", "operate"))
    task, agents = launch_via_api(operator, [("Ada", "sim-diligent")])
    run_until_idle(agents.values())
    verdict = Verdict.objects.get(agent=agents["Ada"])

    approve = operator.post(f"/api/verdicts/{verdict.pk}/approve", {})
    assert approve.status_code == 403
    assert approve.json()["error"] == (
        "This API token's scope is operate, which may not approve, reject or comment on work;"
        " use a token of scope review or admin."
    )
    bulk = operator.post("/api/verdicts/decide", {"ids": [verdict.pk], "decision": "approve"})
    assert bulk.status_code == 403
    assert Verdict.objects.get(pk=verdict.pk).status == "pending"

    repo = operator.post("/api/repos", {"name": "another", "path": "/tmp"})
    assert repo.status_code == 403 and "scope is operate, which may not add repositories" in repo.json()["error"]
    assert not Repository.objects.filter(name="another").exists()

    # a message that would withdraw the submission needs the review scope too: the service's own check says so
    withdraw = operator.post(f"/api/agents/{agents['Ada'].pk}/messages", {"text": "one more thing", "then": "withdraw"})
    assert withdraw.status_code == 403 and "scope is operate" in withdraw.json()["error"]
    assert not Message.objects.filter(text="one more thing").exists()


def test_a_review_token_decides_and_may_not_launch(client, alice, bob, demo):
    _, task = demo
    reviewer = Api(client, _token("bob", "review"))
    launch = reviewer.post(f"/api/tasks/{task.pk}/launch")
    assert launch.status_code == 403
    assert (
        "scope is review, which may not launch tasks; use a token of scope operate or admin" in launch.json()["error"]
    )
    assert not Agent.objects.filter(task=task).exists()

    operator = Api(client, _token("alice", "operate"))
    _, agents = launch_via_api(operator, [("Ada", "sim-diligent")])
    run_until_idle(agents.values())
    verdict = Verdict.objects.get(agent=agents["Ada"])
    assert reviewer.post(f"/api/verdicts/{verdict.pk}/approve", {}).status_code == 200
    assert Verdict.objects.get(pk=verdict.pk).status == "approved"


def test_an_admin_scope_never_widens_the_users_role(client, alice, demo):
    wide = Api(client, _token("alice", "admin"))  # alice is an operator
    refused = wide.post("/api/repos", {"name": "another", "path": "/tmp"})
    assert refused.status_code == 403
    assert refused.json()["error"].startswith("Your role in this team is operator; only admin may add repositories")


def test_tokens_are_made_listed_and_revoked_through_the_api(client, alice, demo):
    admin_scoped = Api(client, _token("alice", "admin", "laptop"))
    made = admin_scoped.post("/api/tokens", {"name": "nightly CI", "scope": "read"})
    assert made.status_code == 201
    raw = made.json()["token"]
    assert raw.startswith("swm_")
    assert ApiToken.objects.get(pk=made.json()["id"]).digest == ApiToken.hash(raw)
    assert not ApiToken.objects.filter(digest=raw).exists()

    listed = admin_scoped.get("/api/tokens").json()
    assert [(t["name"], t["scope"]) for t in listed["tokens"]] == [("nightly CI", "read"), ("laptop", "admin")]
    assert raw not in str(listed) and "digest" not in listed["tokens"][0]

    nightly = Api(client, raw)
    assert nightly.get("/api/tasks").status_code == 200
    assert nightly.post("/api/tokens", {"name": "sneaky", "scope": "admin"}).status_code == 403
    twice = admin_scoped.post("/api/tokens", {"name": "nightly CI", "scope": "read"})
    assert twice.status_code == 400 and twice.json()["field"] == "name"
    wrong = admin_scoped.post("/api/tokens", {"name": "x", "scope": "root"})
    assert wrong.status_code == 400 and wrong.json()["field"] == "scope" and "root" not in wrong.json()["error"]

    operate = Api(client, _token("alice", "operate", "runner"))
    assert operate.delete(f"/api/tokens/{made.json()['id']}").status_code == 403
    revoked = admin_scoped.delete(f"/api/tokens/{made.json()['id']}")
    assert revoked.json() == {"id": made.json()["id"], "name": "nightly CI", "revoked": True}
    assert nightly.get("/api/tasks").status_code == 401
    assert admin_scoped.delete(f"/api/tokens/{made.json()['id']}").status_code == 404


def test_someone_elses_token_cannot_be_listed_or_revoked(client, alice, bob, demo):
    bobs = ApiToken.create(bob, "bob's CI", "read")[0]
    alices = Api(client, _token("alice", "admin"))
    assert "bob's CI" not in str(alices.get("/api/tokens").json())
    assert alices.delete(f"/api/tokens/{bobs.pk}").status_code == 404
    assert ApiToken.objects.filter(pk=bobs.pk).exists()


def test_the_team_page_makes_a_token_shows_it_once_and_revokes_it(alice_client, alice, demo):
    made = alice_client.post("/team/tokens/", {"name": "deploy bot", "scope": "operate"})
    assert made.status_code == 201
    page = made.content.decode()
    raw = re.search(r'id="token-value" readonly value="(swm_[\w-]+)"', page).group(1)
    assert ApiToken.objects.get(user=alice, name="deploy bot").digest == ApiToken.hash(raw)
    again = alice_client.get("/team/").content.decode()
    assert "deploy bot" in again and "operate" in again and raw not in again

    unnamed = alice_client.post("/team/tokens/", {"name": "  ", "scope": "read"})
    assert unnamed.status_code == 400 and "Name is needed" in unnamed.content.decode()

    token = ApiToken.objects.get(user=alice, name="deploy bot")
    assert alice_client.post("/team/tokens/revoke/", {"token": token.pk}).status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    after = alice_client.get("/team/").content.decode()
    assert "The API token “deploy bot” no longer works." in after and 'id="token-' not in after


def test_an_admins_operate_token_cannot_set_the_review_policy_through_a_task_file(client, adele, demo):
    operator = Api(client, _token("adele", "operate"))  # the team's admin, but the token only operates
    text = (
        "repository: mathutil\ntitle: Auto\ngoal: Fix mean().\nacceptance: [mean works]\n"
        "roster: [Ada = sim-diligent]\npolicy: {auto_approve: true}\n"
    )
    refused = operator.post("/api/taskfiles", {"text": text})
    assert refused.status_code == 403, refused.json()
    assert refused.json()["field"] == "policy.auto_approve"
    assert not type(demo[1]).objects.filter(title="Auto").exists()
    admin = Api(client, _token("adele", "admin"))
    assert admin.post("/api/taskfiles", {"text": text}).status_code == 201
