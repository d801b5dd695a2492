"""The JSON API as a script or another program uses it: bearer tokens, team scoping, clear errors."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from jsonschema import Draft202012Validator

from agents import services, worktrees
from agents.models import Agent, ApiToken, Event, Message, ModelProfile, Repository, TaskSpec
from judges.models import Review, Verdict
from tests import factories
from tests.factories import run_until_idle


def issue_token(username: str) -> str:
    """A token exactly as an operator gets one: from the management command's output."""
    out = StringIO()
    call_command("api_token", username, stdout=out)
    return out.getvalue().strip()


class Api:
    """The test client speaking JSON with a bearer token."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, params: dict | None = None):
        return self.client.get(path, params or {}, headers=self.headers)

    def post(self, path: str, data=None, raw: bytes | str | None = None):
        payload = raw if raw is not None else json.dumps(data if data is not None else {})
        return self.client.post(path, payload, content_type="application/json", headers=self.headers)

    def request(self, method: str, path: str):
        return self.client.generic(method, path, headers=self.headers)


@pytest.fixture
def api(client, alice):
    # alice, the operator, with a token of her own
    return Api(client, issue_token("alice"))


@pytest.fixture
def admin_api(client, adele):
    # adele, the team's admin: the only role that adds repositories and model profiles
    return Api(client, issue_token("adele"))


@pytest.fixture
def mallory_api(client, mallory):
    # mallory, of another team, with a perfectly valid token
    return Api(client, issue_token("mallory"))


def small_task(api: Api, roster: list[tuple[str, str]], title: str = "Fix mean() via the API") -> dict:
    response = api.post(
        "/api/tasks",
        {
            "repo": "mathutil",
            "title": title,
            "goal": "mean([2, 4, 6]) should be 4.",
            "acceptance": ["mean([2, 4, 6]) == 4", "The whole test suite passes"],
            "verify_command": "python -m pytest -q",
            "agents": [{"name": n, "model": m} for n, m in roster],
            "budget": {"minutes": 20, "tokens": 100_000, "usd": 1.5},
            "taste_guides": ["House style"],
            "skills": ["Small diff"],
        },
    )
    assert response.status_code == 201, response.json()
    return response.json()


def launched(api: Api, roster: list[tuple[str, str]]) -> tuple[TaskSpec, dict[str, Agent]]:
    task = small_task(api, roster)
    response = api.post(f"/api/tasks/{task['id']}/launch")
    assert response.status_code == 201, response.json()
    agents = {a.name: a for a in Agent.objects.filter(task_id=task["id"])}
    return TaskSpec.objects.get(pk=task["id"]), agents


# ---------------------------------------------------------------- tokens


def test_a_token_from_the_management_command_opens_the_api_and_a_bad_or_missing_one_gets_401(client, alice, demo):
    _, task = demo
    token = issue_token("alice")
    assert token.startswith("swm_")
    assert not ApiToken.objects.filter(digest=token).exists()  # only its digest is stored
    assert ApiToken.objects.get(user=alice).digest == ApiToken.hash(token)

    ok = Api(client, token).get("/api/tasks")
    assert ok.status_code == 200
    assert [t["title"] for t in ok.json()["tasks"]] == [task.title]

    for headers in ({}, {"Authorization": "Bearer swm_not-a-real-token"}, {"Authorization": f"Basic {token}"}):
        refused = client.get("/api/tasks", headers=headers)
        assert refused.status_code == 401
        assert refused["WWW-Authenticate"].startswith("Bearer")
        assert "api_token" in refused.json()["error"]


def test_health_answers_without_a_token(client, db):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "mode": "embedded"}


def test_a_session_cookie_does_not_authenticate_api_writes(alice_client, demo):
    _, task = demo
    before = TaskSpec.objects.count()
    response = alice_client.post(
        "/api/tasks",
        json.dumps({"repo": "mathutil", "title": "x", "goal": "y", "acceptance": ["z"], "agents": []}),
        content_type="application/json",
    )
    assert response.status_code == 401
    assert TaskSpec.objects.count() == before
    launch = alice_client.post(f"/api/tasks/{task.pk}/launch")
    assert launch.status_code == 401
    assert not Agent.objects.filter(task=task).exists()


def test_a_user_in_no_team_gets_403_with_the_reason(client, db):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("drifter", password="pw-for-tests-123")
    response = Api(client, issue_token("drifter")).get("/api/tasks")
    assert response.status_code == 403
    assert "not a member of any team" in response.json()["error"]


# ---------------------------------------------------------------- repositories and model profiles


def make_repo(repo_dir: Path, branch: str = "main") -> Path:
    repo_dir.mkdir(parents=True)
    (repo_dir / "README.md").write_text("inventory\n")
    worktrees.git(repo_dir, "init", "-q", "-b", branch)
    worktrees.git(repo_dir, "add", "-A")
    worktrees.git(repo_dir, "commit", "-q", "-m", "first")
    return repo_dir


def test_adding_a_repository_checks_it_is_a_git_repository_on_the_server(admin_api, demo, tmp_path, settings):
    settings.SWARM_REPO_ROOTS = [tmp_path]
    team, _ = demo
    repo_dir = tmp_path / "inventory"
    repo_dir.mkdir()
    (repo_dir / "README.md").write_text("inventory\n")
    worktrees.git(repo_dir, "init", "-q", "-b", "trunk")
    worktrees.git(repo_dir, "add", "-A")
    worktrees.git(repo_dir, "commit", "-q", "-m", "first")

    response = admin_api.post("/api/repos", {"name": "inventory", "path": str(repo_dir), "verify_command": "make test"})
    assert response.status_code == 201
    repo = Repository.objects.get(team=team, name="inventory")
    assert (repo.default_branch, repo.verify_command) == ("trunk", "make test")
    assert response.json()["id"] == repo.pk
    assert response.json()["default_branch"] == "trunk"

    plain = tmp_path / "not-a-repo"
    plain.mkdir()
    (repo_dir / "sub").mkdir()
    for path, expected in (
        (str(plain), "not a git repository"),
        ("relative/path", "absolute path"),
        (str(tmp_path / "missing"), "not a directory"),
        (str(repo_dir / "sub"), "top-level directory"),
    ):
        refused = admin_api.post("/api/repos", {"name": "other", "path": path})
        assert refused.status_code == 400, path
        assert refused.json()["field"] == "path"
        assert expected in refused.json()["error"]
    assert not Repository.objects.filter(name="other").exists()

    again = admin_api.post("/api/repos", {"name": "inventory", "path": str(repo_dir)})
    assert again.status_code == 409
    assert Repository.objects.filter(team=team, name="inventory").count() == 1
    assert [r["name"] for r in admin_api.get("/api/repos").json()["repos"]] == ["inventory", "mathutil"]


def test_a_repository_of_another_team_or_an_agents_worktree_cannot_be_added(
    admin_api, mallory_api, demo, tmp_path, settings
):
    settings.SWARM_REPO_ROOTS = [tmp_path]
    team, task = demo
    ours = make_repo(tmp_path / "ours")
    assert admin_api.post("/api/repos", {"name": "ours", "path": str(ours)}).status_code == 201
    taken = mallory_api.post("/api/repos", {"name": "theirs", "path": str(ours)})
    assert taken.status_code == 400
    assert "another team" in taken.json()["error"]
    agents = services.launch_task(task)
    worktree = admin_api.post("/api/repos", {"name": "ada-tree", "path": agents[0].worktree})
    assert worktree.status_code == 400
    assert "worktree" in worktree.json()["error"]
    assert not Repository.objects.filter(name__in=["theirs", "ada-tree"]).exists()
    mine = admin_api.post("/api/repos", {"name": "ours-again", "path": str(ours)})  # the same team may
    assert mine.status_code == 201
    assert Repository.objects.get(name="ours-again").team == team


def test_repositories_are_registered_only_under_the_operators_roots(admin_api, demo, tmp_path, settings):
    allowed, elsewhere = make_repo(tmp_path / "allowed" / "app"), make_repo(tmp_path / "elsewhere" / "app")
    refused = admin_api.post("/api/repos", {"name": "app", "path": str(allowed)})
    assert refused.status_code == 400 and "SWARM_REPO_ROOTS" in refused.json()["error"]  # none configured

    settings.SWARM_REPO_ROOTS = [tmp_path / "allowed"]
    outside = admin_api.post("/api/repos", {"name": "app", "path": str(elsewhere)})
    assert outside.status_code == 400 and "outside the directories" in outside.json()["error"]
    sneaky = admin_api.post("/api/repos", {"name": "app", "path": f"{tmp_path}/allowed/../elsewhere/app"})
    assert sneaky.status_code == 400 and "outside the directories" in sneaky.json()["error"]
    (tmp_path / "allowed" / "link").symlink_to(elsewhere)
    linked = admin_api.post("/api/repos", {"name": "app", "path": str(tmp_path / "allowed" / "link")})
    assert linked.status_code == 400 and "outside the directories" in linked.json()["error"]

    # Swarm's own data (the demo repository, the database) and checkout, even under a root
    settings.SWARM_REPO_ROOTS = ["/"]
    for path in (demo[1].repo.path, str(settings.DATA_DIR), str(settings.BASE_DIR), "/"):
        own = admin_api.post("/api/repos", {"name": "own", "path": path})
        assert own.status_code == 400 and "Swarm's" in own.json()["error"], path
    assert not Repository.objects.filter(name__in=["app", "own"]).exists()

    settings.SWARM_REPO_ROOTS = [tmp_path / "allowed"]  # control: inside a root it is registered
    assert admin_api.post("/api/repos", {"name": "app", "path": str(allowed)}).status_code == 201


def test_a_model_profile_names_the_key_variable_and_never_holds_or_shows_a_key(admin_api, demo, monkeypatch):
    team, _ = demo
    monkeypatch.setenv("ACME_API_KEY", "canary-secret-value-123")
    response = admin_api.post(
        "/api/models",
        {
            "name": "acme-large",
            "model": "openai/acme-large",
            "api_base": "http://127.0.0.1:9/v1",
            "api_key_env": "ACME_API_KEY",
        },
    )
    assert response.status_code == 201
    profile = ModelProfile.objects.get(team=team, name="acme-large")
    assert (profile.api_key_env, profile.family) == ("ACME_API_KEY", "openai")
    assert response.json()["api_key_env"] == "ACME_API_KEY"

    key_like = [
        "sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c",  # a pasted key
        "acme_api_key",  # lower case
        "ACME-API-KEY",  # dashes
        "A" * 101,  # too long for a name
    ]
    for value in key_like:
        refused = admin_api.post("/api/models", {"name": "leaky", "model": "openai/x", "api_key_env": value})
        assert refused.status_code == 400
        assert refused.json()["field"] == "api_key_env"
        assert value not in refused.content.decode()  # the refusal does not repeat what may be a key
    assert not ModelProfile.objects.filter(name="leaky").exists()

    listing = admin_api.get("/api/models")
    assert listing.status_code == 200
    assert "canary-secret-value-123" not in listing.content.decode()
    assert "acme-large" in [m["name"] for m in listing.json()["models"]]


# ---------------------------------------------------------------- tasks, launch, agents, events


def test_an_operator_writes_and_launches_a_task_whose_agents_run_to_review(api, alice, demo):
    created = small_task(api, [("Ada", "sim-diligent"), ("Linus", "sim-lazy")])
    task = TaskSpec.objects.get(pk=created["id"])
    assert task.created_by == alice
    assert task.acceptance == ["mean([2, 4, 6]) == 4", "The whole test suite passes"]
    assert task.roster == [{"name": "Ada", "profile": "sim-diligent"}, {"name": "Linus", "profile": "sim-lazy"}]
    assert (task.budget_minutes, task.budget_tokens, str(task.budget_usd)) == (20, 100_000, "1.50")
    assert [g.name for g in task.taste_guides.all()] == created["taste_guides"] == ["House style"]
    assert [s.name for s in task.skills.all()] == created["skills"] == ["Small diff"]
    assert created["repo"]["name"] == "mathutil"
    assert created["agents"] == [] and created["launched_at"] is None

    launch = api.post(f"/api/tasks/{task.pk}/launch")
    assert launch.status_code == 201
    task.refresh_from_db()
    assert task.launched_at is not None
    answered = {a["name"]: a for a in launch.json()["agents"]}
    assert set(answered) == {"Ada", "Linus"}
    for name, agent in answered.items():
        assert agent["status"] == "running"
        assert agent["branch"] == f"swarm/{task.pk}/{name.lower()}"
    assert answered["Ada"]["model"] == "sim-diligent"

    again = api.post(f"/api/tasks/{task.pk}/launch")
    assert again.status_code == 409
    assert "already been launched" in again.json()["error"]
    assert Agent.objects.filter(task=task).count() == 2

    run_until_idle(Agent.objects.filter(task=task))
    detail = api.get(f"/api/tasks/{task.pk}")
    assert detail.status_code == 200
    assert detail.json()["agents_by_status"] == {"awaiting_review": 2}
    everyone = Agent.objects.filter(task=task)
    assert detail.json()["usage"] == {
        "tokens": sum(a.tokens for a in everyone),
        "cost_usd": 0.0,  # simulated models cost nothing
        "steps": sum(a.steps for a in everyone),
    }
    ada = Agent.objects.get(task=task, name="Ada")
    assert ada.status == Agent.Status.AWAITING_REVIEW
    body = api.get(f"/api/agents/{ada.pk}").json()
    assert body["status"] == "awaiting_review"
    assert body["usage"]["steps"] == ada.steps > 0
    assert body["usage"]["tokens"] == ada.tokens > 0
    assert "mathutil.py" in body["files_read"] and "mathutil.py" in body["files_edited"]
    assert body["budget"]["minutes"] == 20 and body["budget"]["usd"] == 1.5
    assert body["task"] == {"id": task.pk, "title": task.title}


def test_launching_the_demo_task_answers_its_eight_named_agents(api, demo):
    _, task = demo
    response = api.post(f"/api/tasks/{task.pk}/launch")
    assert response.status_code == 201
    assert Agent.objects.filter(task=task).count() == 8
    names = [a["name"] for a in response.json()["agents"]]
    assert names == ["Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Ken", "Radia"]
    assert all(a["id"] and a["branch"] and a["status"] == "running" for a in response.json()["agents"])


def test_events_page_with_after_and_show_a_posted_message_being_delivered(api, demo):
    task, agents = launched(api, [("Ada", "sim-diligent")])
    ada = agents["Ada"]
    first = api.get(f"/api/agents/{ada.pk}/events")
    assert first.status_code == 200
    seen = [e["seq"] for e in first.json()["events"]]
    assert seen == list(range(1, len(seen) + 1))  # gapless from 1
    cursor = first.json()["next_after"]
    assert cursor == seen[-1] and first.json()["more"] is False

    posted = api.post(f"/api/agents/{ada.pk}/messages", {"text": "Please also check the empty case."})
    assert posted.status_code == 201
    message = Message.objects.get(agent=ada)
    assert (message.state, message.author.username) == ("queued", "alice")
    assert posted.json()["id"] == message.pk and posted.json()["state"] == "queued"

    from agents import runtime

    runtime.run_step(ada.pk)
    message.refresh_from_db()
    assert message.state in {"delivered", "answered"}
    later = api.get(f"/api/agents/{ada.pk}/events", {"after": cursor}).json()["events"]
    assert [e["seq"] for e in later] == list(range(cursor + 1, cursor + 1 + len(later)))
    kinds = [e["kind"] for e in later]
    assert "message" in kinds and "message_delivered" in kinds
    delivered = next(e for e in later if e["kind"] == "message_delivered")
    assert delivered["payload"]["message_id"] == message.pk
    sent = next(e for e in later if e["kind"] == "message")
    assert sent["payload"]["text"] == "Please also check the empty case."
    assert sent["message_state"] == message.state

    # a long log comes in pages of 500, each starting where the last one ended
    services.append_events(ada.pk, [("note", {"i": i}) for i in range(620)])
    total = Event.objects.filter(agent=ada).count()
    seqs, after, pages = [], 0, 0
    while True:
        page = api.get(f"/api/agents/{ada.pk}/events", {"after": after}).json()
        pages += 1
        seqs += [e["seq"] for e in page["events"]]
        after = page["next_after"]
        if not page["more"]:
            break
    assert pages == 2
    assert seqs == list(range(1, total + 1))
    assert api.get(f"/api/agents/{ada.pk}/events", {"after": "-1"}).json()["field"] == "after"


def test_a_message_sent_twice_with_one_client_msg_id_is_queued_once(api, demo):
    _, agents = launched(api, [("Ada", "sim-diligent"), ("Grace", "sim-diligent")])
    ada = agents["Ada"]
    first = api.post(f"/api/agents/{ada.pk}/messages", {"text": "steer left", "mode": "steer", "client_msg_id": "m-1"})
    second = api.post(f"/api/agents/{ada.pk}/messages", {"text": "steer left", "mode": "steer", "client_msg_id": "m-1"})
    assert first.status_code == second.status_code == 201
    assert Message.objects.filter(agent=ada).count() == 1
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["mode"] == "steer"
    # ids are the sender's, per agent: the same id sent to another agent is that agent's own message
    elsewhere = api.post(f"/api/agents/{agents['Grace'].pk}/messages", {"text": "hello", "client_msg_id": "m-1"})
    assert elsewhere.status_code == 201
    assert Message.objects.get(agent=agents["Grace"]).text == "hello"

    services.stop(ada, "alice")
    finished = api.post(f"/api/agents/{ada.pk}/messages", {"text": "one more thing"})
    assert finished.status_code == 409
    assert "takes no more messages" in finished.json()["error"]
    assert Message.objects.filter(agent=ada).count() == 1


# ---------------------------------------------------------------- verdicts


def test_a_reviewer_lists_pending_verdicts_and_approves_one_and_rejects_another(client, api, bob, demo):
    _, agents = launched(api, [("Ada", "sim-diligent"), ("Linus", "sim-lazy")])  # alice, the operator, launches
    api = Api(client, issue_token("bob"))
    run_until_idle(agents.values())
    queue = api.get("/api/verdicts")
    assert queue.status_code == 200
    pending = {v["agent"]["name"]: v for v in queue.json()["verdicts"]}
    assert set(pending) == {"Ada", "Linus"}
    assert pending["Ada"]["recommendation"] == "approve" and pending["Linus"]["recommendation"] == "reject"
    assert pending["Ada"]["evidence"]["verify"]["exit_code"] == 0

    approved = api.post(f"/api/verdicts/{pending['Ada']['id']}/approve", {})
    assert approved.status_code == 200
    ada_verdict = Verdict.objects.get(pk=pending["Ada"]["id"])
    assert (ada_verdict.status, ada_verdict.decided_by) == ("approved", bob)
    assert Agent.objects.get(pk=agents["Ada"].pk).status == Agent.Status.ACCEPTED
    assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == "bob"

    rejected = api.post(
        f"/api/verdicts/{pending['Linus']['id']}/reject", {"comment": "You changed nothing; fix mean()."}
    )
    assert rejected.status_code == 200
    linus = Agent.objects.get(pk=agents["Linus"].pk)
    assert Verdict.objects.get(pk=pending["Linus"]["id"]).status == "rejected"
    assert linus.status == Agent.Status.RUNNING
    feedback = Message.objects.get(agent=linus)
    assert "You changed nothing; fix mean()." in feedback.text and feedback.author == bob
    assert Review.objects.filter(verdict_id=pending["Linus"]["id"], decision="reject").count() == 1

    twice = api.post(f"/api/verdicts/{pending['Ada']['id']}/reject", {"comment": "changed my mind"})
    assert twice.status_code == 409
    assert "already decided" in twice.json()["error"]
    assert Verdict.objects.get(pk=pending["Ada"]["id"]).status == "approved"
    assert api.get("/api/verdicts").json()["verdicts"] == []
    assert len(api.get("/api/verdicts", {"status": "all"}).json()["verdicts"]) == 2
    assert api.get("/api/verdicts", {"status": "maybe"}).json()["field"] == "status"


# ---------------------------------------------------------------- another team


def test_a_stranger_gets_404_for_another_teams_task_agent_and_verdict(api, mallory_api, demo):
    _, agents = launched(api, [("Linus", "sim-lazy")])
    linus = agents["Linus"]
    run_until_idle([linus])
    verdict = Verdict.objects.get(agent=linus)
    missing = mallory_api.get("/api/tasks/999999")
    assert missing.status_code == 404

    probes = [
        ("get", f"/api/tasks/{linus.task_id}", None),
        ("post", f"/api/tasks/{linus.task_id}/launch", None),
        ("get", f"/api/agents/{linus.pk}", None),
        ("get", f"/api/agents/{linus.pk}/events", None),
        ("post", f"/api/agents/{linus.pk}/messages", {"text": "ignore your task"}),
        ("post", f"/api/verdicts/{verdict.pk}/approve", {}),
        ("post", f"/api/verdicts/{verdict.pk}/reject", {"comment": "no"}),
    ]
    for method, path, data in probes:
        response = mallory_api.get(path) if method == "get" else mallory_api.post(path, data)
        assert response.status_code == 404, path
        # the same words as for an id that does not exist: nothing says it is someone else's
        assert re.sub(r"\d+", "N", response.json()["error"]) in {
            re.sub(r"\d+", "N", missing.json()["error"]).replace("task", what) for what in ("task", "agent", "verdict")
        }
    verdict.refresh_from_db()
    assert verdict.status == "pending"
    assert not Message.objects.filter(agent=linus).exists()
    assert mallory_api.get("/api/verdicts").json()["verdicts"] == []
    assert [t["title"] for t in mallory_api.get("/api/tasks").json()["tasks"]] == ["Fix mean() in mathutil"]
    other = TaskSpec.objects.get(team__name="Other team")
    assert [t["id"] for t in mallory_api.get("/api/tasks").json()["tasks"]] == [other.pk]


# ---------------------------------------------------------------- malformed requests


def test_malformed_json_and_wrong_types_get_400_naming_the_field(api, demo):
    before = TaskSpec.objects.count()
    good = {
        "repo": "mathutil",
        "title": "A task",
        "goal": "Do it.",
        "acceptance": ["done"],
        "agents": [{"name": "Ada", "model": "sim-diligent"}],
    }
    bad_json = api.post("/api/tasks", raw='{"title": "unterminated')
    assert bad_json.status_code == 400
    assert "not valid JSON" in bad_json.json()["error"]
    assert api.post("/api/tasks", raw="[1, 2]").status_code == 400
    assert "JSON object" in api.post("/api/tasks", raw="[1, 2]").json()["error"]
    assert api.post("/api/tasks", raw=b"\xff\xfe{").status_code == 400

    cases = [
        ({"title": None}, "title", "must be a string"),
        ({"budget": {"minutes": "lots"}}, "budget.minutes", "whole number"),
        ({"budget": {"minutes": 0}}, "budget.minutes", "at least 1"),
        ({"budget": {"usd": -1}}, "budget.usd", "greater than or equal to 0"),
        ({"budget": {"tokens": 2**40}}, "budget.tokens", "out of range"),
        ({"taste_guides": ["House style", "Nope"]}, "taste_guides", "does not have: Nope"),
        ({"agents": [{"name": "Ada", "model": 5}]}, "agents[0].model", "must be a string"),
        ({"agents": [{"name": "Ada"}]}, "agents[0].model", "is required"),
        ({"agents": [{"name": "Ada", "model": "gpt-9000"}]}, "agents", "not a model profile of your team"),
        ({"agents": [{"name": "Ada", "model": "sim-lazy"}, {"name": "ada", "model": "sim-lazy"}]}, "agents", "twice"),
        ({"acceptance": "done"}, "acceptance", "must be a list"),
        ({"acceptance": ["  "]}, "acceptance", "at least one acceptance criterion"),
        ({"repo": "nope"}, "repo", "not a repository of your team"),
        ({"repo": True}, "repo", "must be a string or a whole number"),
        ({"goal": "   "}, "goal", "must not be empty"),
        ({"decision": "approve"}, "decision", "is not a field here"),
    ]
    for change, field, words in cases:
        response = api.post("/api/tasks", {**good, **change})
        assert response.status_code == 400, (change, response.json())
        assert response.json()["field"] == field, response.json()
        assert words in response.json()["error"], response.json()
    missing = api.post("/api/tasks", {k: v for k, v in good.items() if k != "title"})
    assert (missing.status_code, missing.json()["field"]) == (400, "title")
    assert "title is required" in missing.json()["error"]
    assert TaskSpec.objects.count() == before  # nothing partial was written

    message = api.post("/api/agents/1/messages", {"text": ["not", "text"]})
    assert message.status_code in {400, 404}


def test_a_3mb_body_gets_413_and_writes_nothing(api, demo):
    before = TaskSpec.objects.count()
    huge = json.dumps({"repo": "mathutil", "title": "big", "goal": "x" * (3 * 1024 * 1024), "acceptance": ["a"]})
    response = api.post("/api/tasks", raw=huge)
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]
    assert TaskSpec.objects.count() == before


def test_a_wrong_method_gets_405_with_the_allowed_ones(api, demo):
    _, task = demo
    response = api.request("DELETE", f"/api/tasks/{task.pk}")
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert "use GET" in response.json()["error"]
    assert api.get(f"/api/tasks/{task.pk}/launch").status_code == 405
    assert TaskSpec.objects.filter(pk=task.pk).exists()


# ---------------------------------------------------------------- the OpenAPI document


def _api_urls(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _api_urls(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern) and (prefix + str(p.pattern)).startswith("api/"):
            yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", prefix + str(p.pattern))


def test_the_openapi_document_describes_every_api_route_and_method(api, demo):
    response = api.get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    urls = set(_api_urls(get_resolver().url_patterns))
    assert len(urls) >= 13
    assert urls <= set(doc["paths"]), f"undocumented: {urls - set(doc['paths'])}"
    assert doc["paths"]["/api/health"]["get"]["security"] == []

    methods = {"get", "post", "put", "patch", "delete"}
    for url, item in doc["paths"].items():
        concrete = url.replace("{pk}", "1")
        for method in methods - set(item):  # what it does not document, it refuses
            assert api.request(method.upper(), concrete).status_code == 405, (method, url)
        for method, operation in item.items():
            assert operation["responses"], url
            if method == "post" and "requestBody" in operation:
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                assert schema["type"] == "object" and schema["additionalProperties"] is False
            if "{pk}" in url:
                assert {"name": "pk", "in": "path", "required": True, "schema": {"type": "integer"}} in operation[
                    "parameters"
                ]
            assert api.request(method.upper(), concrete).status_code != 405, (method, url)

    # every schema in it is valid JSON Schema 2020-12, the dialect of OpenAPI 3.1
    def schemas(node):
        if isinstance(node, dict):
            if "schema" in node:
                yield node["schema"]
            for value in node.values():
                yield from schemas(value)
        elif isinstance(node, list):
            for value in node:
                yield from schemas(value)

    found = list(schemas(doc["paths"])) + list(doc["components"]["schemas"].values())
    assert len(found) > 50
    for schema in found:
        Draft202012Validator.check_schema(schema)
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', response.content.decode()))
    assert refs <= set(doc["components"]["schemas"])
    assert {"Task", "Agent", "Event", "Message", "Verdict", "Error"} <= refs


def test_every_route_in_the_openapi_document_answers_401_without_a_token(client, demo):
    doc = Api(client, issue_token(factories.make_user("carol", demo[0]).username)).get("/api/openapi.json").json()
    for url, item in doc["paths"].items():
        for method, operation in item.items():
            response = client.generic(method.upper(), url.replace("{pk}", "1"))
            expected = 200 if operation["security"] == [] else 401
            assert response.status_code == expected, (method, url)
