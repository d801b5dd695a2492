"""What an admin registers through the API: git repositories on the server, under the operator's roots and
not Swarm's own, and model profiles that name a key variable but never hold a key."""

from __future__ import annotations

from agents import services
from agents.models import ModelProfile, Repository
from tests.factories import make_repo


def test_adding_a_repository_checks_it_is_a_git_repository_on_the_server(admin_api, demo, tmp_path, settings):
    settings.SWARM_REPO_ROOTS = [tmp_path]
    team, _ = demo
    repo_dir = make_repo(tmp_path / "inventory", branch="trunk")

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
            "requests_per_minute": 90,
        },
    )
    assert response.status_code == 201
    profile = ModelProfile.objects.get(team=team, name="acme-large")
    assert (profile.api_key_env, profile.family, profile.requests_per_minute) == ("ACME_API_KEY", "openai", 90)
    assert response.json()["api_key_env"] == "ACME_API_KEY"
    assert response.json()["requests_per_minute"] == 90

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
