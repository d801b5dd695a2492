"""A team's repositories and model profiles in the browser (Django's test client): the admin adds, edits, removes and
tests them; everyone else in the team reads them; refusals say why and change nothing."""

from __future__ import annotations

import re
from html import unescape

import pytest

from agents import services, worktrees
from agents.models import Agent, ModelProfile, Repository
from tests.factories import make_repo
from tests.openai_server import reply, status

HTMX = {"HX-Request": "true"}


def text(response) -> str:
    return unescape(re.sub(r"\s+", " ", response.content.decode()))


def words(response) -> str:
    """What a person reads: the text without its tags."""
    return re.sub(r"<[^>]+>", "", text(response))


def profile_fields(server, **fields) -> dict:
    return {
        "name": "local",
        "model": "openai/test-model",
        "api_base": server.base_url,
        "api_key_env": "SWARM_TEST_KEY",
    } | fields


# ---------------------------------------------------------------- repositories


def test_an_admin_adds_a_repository_by_its_path_and_the_list_shows_its_branch_and_verify_command(
    adele_client, demo, tmp_path, settings
):
    settings.SWARM_REPO_ROOTS = [tmp_path]
    make_repo(tmp_path / "inventory", branch="trunk")
    form = adele_client.get("/repos/new/")
    assert form.status_code == 200
    assert str(tmp_path) in text(form)  # the page says where repositories may be

    response = adele_client.post(
        "/repos/new/", {"name": "inventory", "path": str(tmp_path / "inventory"), "verify_command": "make test"}
    )
    assert response.status_code == 302 and response["Location"] == "/repos/"
    repo = Repository.objects.get(team=demo[0], name="inventory")
    assert (repo.path, repo.default_branch, repo.verify_command) == (str(tmp_path / "inventory"), "trunk", "make test")

    listing = text(adele_client.get("/repos/"))
    assert "Repository “inventory” added." in listing
    row = re.search(rf'<tr id="repo-{repo.pk}">(.*?)</tr>', listing).group(1)
    assert "<code>trunk</code>" in row and "<code>make test</code>" in row
    assert f'href="/repos/{repo.pk}/"' in row  # the admin may edit it


def test_a_refused_path_is_said_next_to_the_field_and_nothing_is_added(adele_client, demo, tmp_path, settings):
    settings.SWARM_REPO_ROOTS = [tmp_path / "allowed"]
    (tmp_path / "allowed").mkdir()
    elsewhere = make_repo(tmp_path / "elsewhere")
    response = adele_client.post("/repos/new/", {"name": "elsewhere", "path": str(elsewhere)})
    assert response.status_code == 400
    page = text(response)
    assert "Please fix the fields marked below; nothing was saved yet." in page
    assert f"Path is outside the directories this server allows repositories in: {tmp_path}/allowed." in page
    assert 'value="elsewhere"' in page  # what the admin typed is kept
    assert not Repository.objects.filter(name="elsewhere").exists()

    settings.SWARM_REPO_ROOTS = []
    page = words(adele_client.get("/repos/new/"))
    assert "This server allows no repository directories yet: the operator sets SWARM_REPO_ROOTS." in page


def test_an_admin_renames_a_repository_but_its_path_stays(adele_client, demo):
    repo = demo[1].repo
    response = adele_client.post(f"/repos/{repo.pk}/", {"name": "maths", "path": "/etc", "verify_command": "pytest"})
    assert response.status_code == 302
    repo.refresh_from_db()
    assert (repo.name, repo.verify_command) == ("maths", "pytest")
    assert repo.path != "/etc"
    assert "disabled" in text(adele_client.get(f"/repos/{repo.pk}/")).split('name="path"')[1].split(">")[0]


def test_removing_a_repository_agents_work_in_is_refused_with_the_reason(adele_client, demo, tmp_path, settings):
    team, task = demo
    services.launch_task(task)
    response = adele_client.post(f"/repos/{task.repo.pk}/delete/", follow=True)
    assert response.status_code == 200
    page = text(response)
    assert "8 agents still work in mathutil" in page and "stop them" in page
    assert Repository.objects.filter(pk=task.repo.pk).exists()
    assert worktrees.git(task.repo.path, "rev-parse", "HEAD")  # and nothing on disk was touched

    unused = Repository.objects.create(team=team, name="unused", path=task.repo.path)  # control
    response = adele_client.post(f"/repos/{unused.pk}/delete/", follow=True)
    assert "Repository “unused” removed from Swarm; nothing on the server was deleted." in text(response)
    assert not Repository.objects.filter(pk=unused.pk).exists()


# ---------------------------------------------------------------- model profiles


def test_an_admin_adds_a_profile_with_a_key_variable_from_the_operators_list_and_no_page_shows_the_key(
    adele_client, demo, server, canary, settings
):
    form = text(adele_client.get("/models/new/"))
    assert re.search(r'<input type="text" name="family"[^>]*>', form).group(0).count("value=") == 0  # the provider
    select = re.search(r'<select name="api_key_env".*?</select>', form).group(0)
    assert re.findall(r'<option value="([^"]*)"', select) == ["", *settings.SWARM_MODEL_KEY_ENVS]

    response = adele_client.post(
        "/models/new/",
        profile_fields(server, context_window="16000", input_usd_per_mtok="0.5", requests_per_minute="500"),
    )
    assert response.status_code == 302 and response["Location"] == "/models/"
    profile = ModelProfile.objects.get(team=demo[0], name="local")
    assert (profile.api_key_env, profile.family, profile.context_window) == ("SWARM_TEST_KEY", "openai", 16000)
    assert profile.requests_per_minute == 500

    for page in ("/models/", f"/models/{profile.pk}/", "/models/new/"):
        assert canary not in adele_client.get(page).content.decode(), page
    row = re.search(rf'<tr id="profile-{profile.pk}">(.*?)</tr>', text(adele_client.get("/models/"))).group(1)
    assert "<code>SWARM_TEST_KEY</code>" in row and "16000" in row and "500 a minute" in row


def test_a_profile_the_operator_does_not_allow_is_refused_in_place(adele_client, demo, server):
    response = adele_client.post("/models/new/", profile_fields(server, api_key_env="HOME", api_base=""))
    assert response.status_code == 400
    page = text(response)
    assert "Key variable names a variable the operator does not allow for model keys" in page
    assert not ModelProfile.objects.filter(name="local").exists()


def test_test_connection_shows_the_models_answer_and_saves_nothing(adele_client, demo, server, canary):
    server.script(reply("Hello from the test server."))
    response = adele_client.post("/models/test/", profile_fields(server), headers=HTMX)
    assert response.status_code == 200
    page = text(response)
    assert page.startswith('<section id="connection-result"')  # the fragment alone, for the swap
    assert "Connection works" in page and "Hello from the test server." in page
    assert server.requests[0].headers["authorization"] == f"Bearer {canary}"
    assert not ModelProfile.objects.filter(name="local").exists()

    server.script(reply("Once more, without JavaScript."))  # a plain POST gets the whole form page back
    page = text(adele_client.post("/models/test/", profile_fields(server)))
    assert "Add a model profile" in page and "Once more, without JavaScript." in page
    assert 'value="local"' in page


def test_test_connection_shows_the_providers_error_with_the_key_redacted(adele_client, demo, server, canary):
    server.script(status(401, f"Incorrect API key provided: {canary}. Find your key at example.com."))
    response = adele_client.post("/models/test/", profile_fields(server), headers=HTMX)
    assert response.status_code == 200
    page = text(response)
    assert "Connection failed" in page
    assert "Incorrect API key provided: [redacted]. Find your key at example.com." in page
    assert canary not in response.content.decode()
    assert len(server.requests) == 1  # tested once, not retried


def test_test_connection_of_a_form_the_rules_refuse_sends_nothing(adele_client, demo, server, canary):
    response = adele_client.post("/models/test/", profile_fields(server, api_key_env="SWARM_CANARY"), headers=HTMX)
    assert "Not tested: api_key_env names a variable the operator does not allow" in text(response)
    assert server.requests == []


def test_test_connection_of_a_saved_profile_uses_its_name_and_another_teams_admin_gets_404(
    client, adele, mallory, demo, server, canary
):
    profile = ModelProfile.objects.create(
        team=demo[0], name="saved", **{k: v for k, v in profile_fields(server).items() if k != "name"}
    )
    client.force_login(adele)
    server.script(reply("Saved and working."))
    response = client.post("/models/test/", {"profile": profile.pk, **profile_fields(server, name="")}, headers=HTMX)
    page = text(response)
    assert "saved answered in" in page and "Saved and working." in page

    client.force_login(mallory)
    stranger = client.post("/models/test/", {"profile": profile.pk, **profile_fields(server)}, headers=HTMX)
    assert stranger.status_code == 404
    assert len(server.requests) == 1


def test_deleting_a_profile_running_agents_use_is_refused_with_a_clear_message(adele_client, demo):
    team, task = demo
    services.launch_task(task)
    diligent = ModelProfile.objects.get(team=team, name="sim-diligent")
    page = text(adele_client.post(f"/models/{diligent.pk}/delete/", follow=True))
    assert "5 agents are running on sim-diligent" in page and "stop them before deleting it" in page
    assert ModelProfile.objects.filter(pk=diligent.pk).exists()

    looper = ModelProfile.objects.get(team=team, name="sim-looper")  # control: nothing uses it
    page = text(adele_client.post(f"/models/{looper.pk}/delete/", follow=True))
    assert "Model profile “sim-looper” deleted." in page
    assert not ModelProfile.objects.filter(pk=looper.pk).exists()


def test_an_edit_saves_the_model_and_keeps_the_name_rosters_use(adele_client, demo):
    profile = ModelProfile.objects.get(team=demo[0], name="sim-lazy")
    response = adele_client.post(f"/models/{profile.pk}/", {"name": "renamed", "model": "sim/quitter", "family": ""})
    assert response.status_code == 302
    profile.refresh_from_db()
    assert (profile.name, profile.model, profile.family) == ("sim-lazy", "sim/quitter", "simulator")


# ---------------------------------------------------------------- everyone else reads


@pytest.mark.parametrize("persona", ["victor", "alice", "bob"])
def test_members_who_are_not_admins_read_both_lists_without_any_button_to_change_them(client, demo, persona, request):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    home = text(client.get("/"))
    assert 'href="/repos/"' in home and 'href="/models/"' in home  # linked from the navigation
    repos, models = text(client.get("/repos/")), text(client.get("/models/"))
    assert "mathutil" in repos and "python -m pytest -q" in repos and "<code>main</code>" in repos
    assert "sim-diligent" in models and "sim/diligent" in models
    for page in (repos.split("<main>")[1], models.split("<main>")[1]):  # the navigation may offer "New task"
        assert "Only the team's admins add or change them." in page
        assert "/new/" not in page and "/delete/" not in page and "Edit" not in page
    assert Agent.objects.count() == 0  # reading started nothing
