"""Adding a repository by clone URL: cloned in the background from real git servers on loopback (`git daemon`, git's
smart HTTP with a token), shown live on the Repositories page, fetched again, launched on; and every refusal (hosts the
operator does not list, file:// and paths, bad URLs, another team's repository, a clone that cannot be made) says
why, with no secret in it."""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import subprocess
from html import unescape
from pathlib import Path

import pytest
from django.test import Client

from agents import cloning, hostgit, remotes, services, worktrees
from agents.models import Agent, Repository, TaskSpec
from judges import merge
from tests import factories
from tests.api_client import Api, issue_token
from tests.git_servers import GIT_ENV, GitDaemon, SmartHttp, bare_repo, free_port
from tests.waiting import wait_until

TOKEN_ENV = "SWARM_TEST_GIT_TOKEN"


@pytest.fixture
def served(tmp_path, settings):
    """A real `git daemon` serving `inventory.git` (default branch `trunk`), on a host the operator allows."""
    settings.SWARM_GIT_HOSTS = ["127.0.0.1:*"]
    base = tmp_path / "remote"
    bare_repo(base, "inventory", files={"README.md": "inventory\n", "stock.py": "def count():\n    return 3\n"})
    with GitDaemon(base) as daemon:
        yield daemon


@pytest.fixture
def git_token(monkeypatch, settings):
    """The operator's token credential `deploy` (its secret in an environment variable) and one that is wrong."""
    value = "tok-" + "7f3a9c1e5b" * 3
    monkeypatch.setenv(TOKEN_ENV, value)
    monkeypatch.setenv("SWARM_TEST_WRONG_TOKEN", "wrong-" + value)
    entry = {"kind": "token", "user": "x-access-token", "key": None, "hosts": []}
    settings.SWARM_GIT_CREDENTIALS = {
        "deploy": {**entry, "env": TOKEN_ENV},
        "stale": {**entry, "env": "SWARM_TEST_WRONG_TOKEN"},
        "elsewhere": {**entry, "env": TOKEN_ENV, "hosts": ["git.example.com"]},
        "key": {"kind": "ssh", "user": "", "env": None, "key": "/etc/swarm/deploy_key", "hosts": []},
    }
    return value


def task_on(repo: Repository, demo, roster: list[tuple[str, str]]):
    task = factories.task_like(demo[1], roster)
    TaskSpec.objects.filter(pk=task.pk).update(repo=repo)
    task.refresh_from_db()
    return task


def page_text(response) -> str:
    return unescape(re.sub(r"\s+", " ", response.content.decode()))


def add_by_url(client, url: str, name: str = "inventory", **fields):
    data = {"name": name, "source": "url", "url": url, "verify_command": "python -m pytest -q"} | fields
    return client.post("/repos/new/", data)


def status_of(client, repo: Repository) -> str:
    """What the list's row says, as a browser test waits for it: the `data-repo-status` of `#repo-<id>-status`."""
    row = client.get(f"/repos/{repo.pk}/row/")
    assert row.status_code == 200
    return re.search(r'data-repo-name="[^"]*" data-repo-status="(\w+)"', row.content.decode())[1]


# ---------------------------------------------------------------- the whole way, through the page


def test_an_admin_clones_a_repository_by_url_in_the_background_and_agents_work_on_it(
    adele_client, demo, served, embedded
):
    form = adele_client.get("/repos/new/")
    assert 'value="url"' in form.content.decode() and "127.0.0.1:*" in page_text(form)  # the hosts this server allows

    response = add_by_url(adele_client, served.url("inventory"))

    assert response.status_code == 302 and response["Location"] == "/repos/"
    repo = Repository.objects.get(team=demo[0], name="inventory")
    assert repo.url == served.url("inventory") and hostgit.is_clone(repo.path)
    wait_until(lambda: status_of(adele_client, repo) == "ready", "the row shows the clone ready", timeout=60)
    listing = page_text(adele_client.get("/repos/"))
    assert f'id="repo-{repo.pk}-branch"><code>trunk</code>' in listing  # the remote's HEAD, not "main"
    assert "python -m pytest -q" in listing and served.url("inventory") in listing
    repo.refresh_from_db()
    assert (repo.clone_status, repo.default_branch, repo.clone_detail) == ("ready", "trunk", "")

    task = task_on(repo, demo, [("Ada", "sim-diligent"), ("Grace", "sim-diligent")])
    agents = services.launch_task(task)
    wait_until(
        lambda: Agent.objects.filter(pk__in=[a.pk for a in agents], status=Agent.Status.RUNNING).exclude(worktree="")
        .count() == 2,
        "both agents got worktrees of the clone",
        timeout=60,
    )  # fmt: skip
    for agent in Agent.objects.filter(task=task):
        assert "return 3" in (agent.worktree and open(f"{agent.worktree}/stock.py").read())
        assert agent.branch == f"swarm/{task.pk}/{agent.name.lower()}"
    # approved work merges into the clone's default branch the way it does into a repository on the server
    Agent.objects.filter(task=task).update(status=Agent.Status.STOPPED)
    assert embedded.wait_idle(60)
    ada = Agent.objects.get(task=task, name="Ada")
    Path(ada.worktree, "stock.py").write_text("def count():\n    return 4\n")
    merged = merge.merge(repo.path, "trunk", worktrees.commit_all(ada.worktree, "count four"), "approved")
    assert hostgit.git(repo.path, "rev-parse", "trunk").strip() == merged
    assert "return 4" in hostgit.git(repo.path, "show", "trunk:stock.py")


def test_git_progress_reaches_the_row_while_a_clone_runs(demo, served, tmp_path):
    bare_repo(tmp_path / "remote", "big", files={f"f{i}.txt": f"{i}\n" * 50 for i in range(400)})
    seen: list[tuple[str, int]] = []
    gitdir = tmp_path / "mirror.git"
    hostgit.git(tmp_path, "init", "--bare", "-q", str(gitdir))
    remote = remotes.parse(served.url("big"))

    remotes.fetch(gitdir, remote, remotes.access(remote, ""), lambda p, n: p and seen.append((p, n)), 1e12, 2**30)

    phases = {phase for phase, _ in seen}
    assert "Receiving objects" in phases and ("Receiving objects", 100) in seen, seen[-5:]
    assert hostgit.bare(gitdir, "rev-parse", "--verify", "refs/heads/trunk").strip()


def test_fetch_brings_new_commits_and_never_overwrites_approved_work(adele_client, demo, served, tmp_path):
    add_by_url(adele_client, served.url("inventory"))
    repo = Repository.objects.get(name="inventory")
    assert status_of(adele_client, repo) == "ready"  # the manual scheduler ran the clone as the page answered
    remote = tmp_path / "remote" / "inventory.git"
    work = tmp_path / "more"
    subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True, env=GIT_ENV)
    (work / "NEW.md").write_text("new\n")
    env = {**GIT_ENV, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    for args in (["add", "-A"], ["commit", "-qm", "more"], ["push", "-q", "origin", "trunk"]):
        subprocess.run(["git", "-C", str(work), *args], check=True, env={**env, "GIT_COMMITTER_EMAIL": "t@t"})
    new_head = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True).stdout

    response = adele_client.post(f"/repos/{repo.pk}/fetch/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200 and 'data-repo-status="ready"' in response.content.decode()
    assert hostgit.git(repo.path, "rev-parse", "trunk") == new_head
    # approved work merged here that the remote lacks: the next fetch keeps it and says so
    tree = hostgit.git(repo.path, "rev-parse", "trunk^{tree}").strip()
    merged = hostgit.git(repo.path, "commit-tree", tree, "-p", "trunk", "-m", "approved").strip()
    hostgit.git(repo.path, "update-ref", "refs/heads/trunk", merged)
    subprocess.run(
        ["git", "-C", str(work), "commit", "-qm", "x", "--allow-empty"],
        check=True,
        env=env | {"GIT_COMMITTER_EMAIL": "t@t"},
    )
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "trunk"], check=True, env=GIT_ENV)

    adele_client.post(f"/repos/{repo.pk}/fetch/")

    repo.refresh_from_db()
    assert hostgit.git(repo.path, "rev-parse", "trunk").strip() == merged
    assert repo.clone_status == "ready" and "Not updated from the remote: trunk" in repo.clone_detail
    assert "Not updated from the remote: trunk" in page_text(adele_client.get("/repos/"))

    shutil.rmtree(remote)  # the remote is gone: the clone stays usable, the row says what happened
    adele_client.post(f"/repos/{repo.pk}/fetch/")

    repo.refresh_from_db()
    assert repo.clone_status == "ready" and repo.ready and not repo.not_ready_reason()
    assert "The last fetch failed: fatal: remote error: no such repository" in repo.clone_detail


# ---------------------------------------------------------------- credentials


def test_a_token_reaches_git_as_a_header_and_never_shows_anywhere(adele_client, demo, git_token, tmp_path, settings):
    settings.SWARM_GIT_HOSTS = ["127.0.0.1:*"]
    bare_repo(tmp_path / "private", "secret-sauce")
    with SmartHttp(tmp_path / "private", "x-access-token", git_token) as server:
        form = page_text(adele_client.get("/repos/new/"))
        assert "deploy (token, for https)" in form and git_token not in form and TOKEN_ENV not in form

        add_by_url(adele_client, server.url("secret-sauce"), name="sauce", credential="deploy")
        add_by_url(adele_client, server.url("secret-sauce"), name="stale", credential="stale")

    good, bad = Repository.objects.get(name="sauce"), Repository.objects.get(name="stale")
    assert (good.clone_status, good.default_branch, good.credential) == ("ready", "trunk", "deploy")
    assert any(seen.startswith("Basic ") for seen in server.seen)  # the positive control: it went as Basic auth
    assert bad.clone_status == "failed" and "the server refused the credential" in bad.clone_detail
    listing = page_text(adele_client.get("/repos/"))
    assert "the server refused the credential" in listing and ">Retry<" in listing
    api = Api(Client(), issue_token("adele")).get("/api/repos").content.decode()
    for shown in (listing, api, good.url, bad.clone_detail):
        assert git_token not in shown and "7f3a9c1e5b" not in shown
    # nor on disk: the clone keeps no remote, URL or header in its config, nor the token in any file
    assert "127.0.0.1" not in hostgit.bare(good.path, "config", "--list", "--local")
    assert not [f for f in Path(good.path).rglob("*") if f.is_file() and b"7f3a9c1e5b" in f.read_bytes()]


def test_an_unreachable_url_fails_with_a_clear_message_and_retry_clones_it_once_it_is_there(
    adele_client, demo, git_token, tmp_path, settings
):
    settings.SWARM_GIT_HOSTS = ["127.0.0.1:*"]
    closed = free_port()
    add_by_url(adele_client, f"http://127.0.0.1:{closed}/gone.git", name="gone", credential="deploy")
    gone = Repository.objects.get(name="gone")
    assert gone.clone_status == "failed" and "Failed to connect to 127.0.0.1" in gone.clone_detail
    assert git_token not in gone.clone_detail and "7f3a9c1e5b" not in gone.clone_detail

    base = tmp_path / "later"
    base.mkdir()
    with GitDaemon(base) as daemon:
        add_by_url(adele_client, daemon.url("later"), name="later")
        later = Repository.objects.get(name="later")
        assert later.clone_status == "failed" and "no such repository: /later.git" in later.clone_detail
        bare_repo(base, "later")

        response = adele_client.post(f"/repos/{later.pk}/fetch/", follow=True)

    assert "Cloning “later” in the background" in page_text(response)
    later.refresh_from_db()
    assert (later.clone_status, later.clone_detail, later.default_branch) == ("ready", "", "trunk")


def test_a_clone_past_its_size_or_time_is_stopped_and_says_why(adele_client, demo, served, settings, tmp_path):
    bare_repo(tmp_path / "remote", "heavy", files={"data.txt": secrets.token_hex(40_000)})
    settings.SWARM_CLONE_MAX_BYTES = 20_000
    add_by_url(adele_client, served.url("heavy"))
    repo = Repository.objects.get(name="inventory")
    assert repo.clone_status == "failed" and "larger than 20000 bytes (SWARM_CLONE_MAX_BYTES)" in repo.clone_detail

    settings.SWARM_CLONE_TIMEOUT = 1
    with socket.socket() as silent:  # accepts connections and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        add_by_url(adele_client, f"git://127.0.0.1:{silent.getsockname()[1]}/x.git", name="silent")
    assert "did not answer within 1 s" in Repository.objects.get(name="silent").clone_detail


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("url", "credential", "field", "says"),
    [
        ("https://github.com/acme/inventory.git", "", "url", "github.com:443, which is not a host the operator allows"),
        ("file:///srv/repos/inventory", "", "url", "file:// URLs and paths on this server are added by their path"),
        ("/srv/repos/inventory", "", "url", "a repository on this server is added by its path"),
        ("ext::sh -c touch% /tmp/pwned", "", "url", "without spaces"),
        ("git://127.0.0.1:9418/", "", "url", "must name a repository on its host"),
        ("http://x-access-token:hunter2@127.0.0.1:1/a.git", "", "url", "must not contain a user name, password"),
        ("git://127.0.0.1:9418/a.git", "deploy", "credential", "is a token, which only an https:// URL can use"),
        ("http://127.0.0.1:1/a.git", "key", "credential", "is an ssh key"),
        ("http://127.0.0.1:1/a.git", "elsewhere", "credential", "lent to git.example.com only"),
        ("http://127.0.0.1:1/a.git", "nosuch", "credential", "Select a valid choice"),
    ],
)
def test_a_url_or_credential_the_operator_does_not_allow_is_refused_in_place(
    adele_client, demo, git_token, settings, url, credential, field, says
):
    settings.SWARM_GIT_HOSTS = ["127.0.0.1:*"]

    response = add_by_url(adele_client, url, credential=credential)

    assert response.status_code == 400
    assert re.search(f'id="id_{field}-error"[^>]*>[^<]*{re.escape(says)}', page_text(response)), page_text(response)
    assert not Repository.objects.filter(name="inventory").exists()
    assert "hunter2" not in page_text(response).split("<form")[0]


def test_without_git_hosts_no_url_is_cloned(adele_client, demo, settings):
    settings.SWARM_GIT_HOSTS = []
    response = add_by_url(adele_client, "https://github.com/acme/inventory.git")
    assert response.status_code == 400 and "this server allows no git hosts" in page_text(response)


def test_another_team_can_neither_see_nor_fetch_a_clone(adele_client, demo, served, mallory):
    add_by_url(adele_client, served.url("inventory"))
    repo = Repository.objects.get(name="inventory")
    stranger = Client()
    stranger.force_login(mallory)
    before = Repository.objects.values().get(pk=repo.pk)

    assert stranger.get(f"/repos/{repo.pk}/row/").status_code == 404
    assert stranger.post(f"/repos/{repo.pk}/fetch/").status_code == 404
    assert Api(Client(), issue_token("mallory")).post(f"/api/repos/{repo.pk}/fetch", {}).status_code == 404
    assert Repository.objects.values().get(pk=repo.pk) == before


def test_a_task_cannot_launch_on_a_clone_that_is_not_ready(adele_client, demo, settings, api, alice):
    settings.SWARM_GIT_HOSTS = ["127.0.0.1:*"]
    add_by_url(adele_client, f"git://127.0.0.1:{free_port()}/nowhere.git", name="nowhere")
    repo = Repository.objects.get(name="nowhere")
    task = task_on(repo, demo, [("Ada", "sim-diligent")])

    response = api.post(f"/api/tasks/{task.pk}/launch", {})

    assert response.status_code == 409
    assert "Repository nowhere could not be cloned" in response.json()["error"]
    assert "retry it on the Repositories page" in response.json()["error"]
    assert not task.agents.exists()
    Repository.objects.filter(pk=repo.pk).update(clone_status="cloning", clone_progress=40, clone_detail="Receiving")
    assert "still being cloned (40% Receiving)" in api.post(f"/api/tasks/{task.pk}/launch", {}).json()["error"]
    alice_page = Client()
    alice_page.force_login(alice)
    assert ">nowhere (cloning)</option>" in alice_page.get("/tasks/new/").content.decode()  # the choice says so


# ---------------------------------------------------------------- the API, through the same service


def test_the_api_clones_by_url_and_fetches_through_the_same_service(admin_api, demo, served):
    response = admin_api.post("/api/repos", {"name": "inventory", "url": served.url("inventory")})

    assert response.status_code == 201 and response.json()["url"] == served.url("inventory")
    repo_id = response.json()["id"]
    shown = admin_api.get(f"/api/repos/{repo_id}").json()
    assert (shown["clone_status"], shown["default_branch"], shown["fetched_at"] is not None) == ("ready", "trunk", True)

    fetched = admin_api.post(f"/api/repos/{repo_id}/fetch", {})
    assert fetched.status_code == 202 and fetched.json()["clone_status"] in ("fetching", "ready")
    assert admin_api.get(f"/api/repos/{repo_id}").json()["clone_status"] == "ready"

    refused = admin_api.post("/api/repos", {"name": "local", "url": "file:///etc"})
    assert refused.status_code == 400 and "file:// URLs" in refused.json()["error"]


def test_a_clone_whose_worker_died_is_marked_failed_by_the_sweep_and_a_lost_one_is_queued_again(demo, served):
    team = demo[0]
    dead = Repository.objects.create(team=team, name="dead", url=served.url("inventory"), clone_status="cloning")
    Repository.objects.filter(pk=dead.pk).update(
        path=str(cloning.clone_path(dead.pk)), clone_beat_at="2020-01-01T00:00:00Z"
    )
    lost = Repository.objects.create(team=team, name="lost", url=served.url("inventory"), clone_status="cloning")
    Repository.objects.filter(pk=lost.pk).update(path=str(cloning.clone_path(lost.pk)))

    cloning.resume_lost(startup=True)

    dead.refresh_from_db(), lost.refresh_from_db()
    assert dead.clone_status == "failed" and "interrupted" in dead.clone_detail
    assert (lost.clone_status, lost.default_branch) == ("ready", "trunk")  # the manual scheduler ran it at once
