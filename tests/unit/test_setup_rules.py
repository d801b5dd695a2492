"""A team's repositories and model profiles: the forms' rules and the services' role checks and refusals, on plain
`db` rows (no git: every path here is refused before git would be asked)."""

from __future__ import annotations

import pytest

from agents import team_setup
from agents.errors import InvalidForm, ServiceError
from agents.models import Agent, Membership, ModelProfile, Repository, TaskSpec, Team
from agents.permissions import Forbidden
from agents.setup_forms import ModelProfileForm, RepositoryForm
from tests.unit.builders import member

PASTED_KEY = "sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"


@pytest.fixture
def admin(team):
    return member(team, "adele", Membership.Role.ADMIN)


@pytest.fixture
def operator_allows(settings, tmp_path):
    settings.SWARM_MODEL_KEY_ENVS = ["OPENAI_API_KEY", "SWARM_TEST_KEY"]
    settings.SWARM_MODEL_HOSTS = ["models.internal:8001"]
    settings.SWARM_MODEL_PROVIDERS = ["openai", "anthropic"]
    settings.SWARM_REPO_ROOTS = [tmp_path / "repos"]
    (tmp_path / "repos").mkdir()
    return settings


def profile_data(**fields) -> dict:
    return {"name": "gpt", "model": "openai/gpt-4o", "api_key_env": "OPENAI_API_KEY", **fields}


def repo_on(team, name: str = "app") -> Repository:
    return Repository.objects.create(team=team, name=name, path=f"/srv/{name}")


def task_on(repo, title: str = "Fix it", roster=(), **fields) -> TaskSpec:
    return TaskSpec.objects.create(
        team=repo.team,
        repo=repo,
        title=title,
        goal="g",
        roster=[{"name": n, "profile": p} for n, p in roster],
        **fields,
    )


# ---------------------------------------------------------------- model profiles


def test_a_team_admin_adds_a_model_profile_and_its_family_defaults_to_the_provider(team, admin, operator_allows):
    profile = team_setup.create_model_profile(admin, team, profile_data(context_window="128000"))
    profile.refresh_from_db()
    assert (profile.team, profile.model, profile.family, profile.context_window) == (
        team,
        "openai/gpt-4o",
        "openai",
        128_000,
    )
    sim = team_setup.create_model_profile(admin, team, {"name": "sim", "model": "sim/lazy"})
    assert sim.family == "simulator"


@pytest.mark.parametrize("role", ["viewer", "operator", "reviewer"])
def test_only_a_team_admin_may_add_or_change_a_model_profile(team, admin, operator_allows, role):
    someone = member(team, "someone", role)
    with pytest.raises(Forbidden) as refused:
        team_setup.create_model_profile(someone, team, profile_data())
    assert refused.value.status == 403 and f"Your role in this team is {role}; only admin may" in refused.value.message
    profile = team_setup.create_model_profile(admin, team, profile_data())
    with pytest.raises(Forbidden):
        team_setup.update_model_profile(someone, profile, profile_data(model="openai/gpt-4o-mini"))
    assert ModelProfile.objects.get(pk=profile.pk).model == "openai/gpt-4o"


def test_an_admin_of_another_team_may_not_add_to_this_one(team, operator_allows):
    other = Team.objects.create(name="Other")
    mallory = member(other, "mallory", Membership.Role.ADMIN)
    with pytest.raises(Forbidden) as refused:
        team_setup.create_model_profile(mallory, team, profile_data())
    assert "You are not a member of this team" in refused.value.message
    assert not ModelProfile.objects.exists()


def test_the_key_variable_is_chosen_among_the_operators_and_any_other_is_refused_alike_set_or_not(
    team, admin, operator_allows, monkeypatch
):
    form = ModelProfileForm(instance=ModelProfile(team=team))
    offered = [value for value, _ in form.fields["api_key_env"].widget.choices]
    assert offered == ["", "OPENAI_API_KEY", "SWARM_TEST_KEY"]

    monkeypatch.setenv("HOME_SECRET", "a value")
    monkeypatch.delenv("SURELY_NOT_SET", raising=False)
    answers = []
    for name in ("HOME_SECRET", "SURELY_NOT_SET"):
        with pytest.raises(InvalidForm) as refused:
            team_setup.create_model_profile(admin, team, profile_data(api_key_env=name))
        assert refused.value.field == "api_key_env" and refused.value.status == 400
        answers.append(refused.value.message.replace(name, "NAME"))
    assert answers[0] == answers[1]
    assert "SWARM_MODEL_KEY_ENVS" in answers[0]
    assert not ModelProfile.objects.exists()


def test_a_pasted_key_is_refused_and_never_repeated_not_even_in_the_redrawn_form(team, admin, operator_allows):
    with pytest.raises(InvalidForm) as refused:
        team_setup.create_model_profile(admin, team, profile_data(api_key_env=PASTED_KEY))
    assert refused.value.field == "api_key_env"
    assert PASTED_KEY not in refused.value.message
    assert PASTED_KEY not in str(refused.value.form)  # the select shows the allowed names, not what was sent


def test_a_profile_saved_with_a_variable_the_operator_dropped_shows_it_and_refuses_it(team, admin, operator_allows):
    profile = ModelProfile.objects.create(team=team, name="old", model="openai/gpt-4o", api_key_env="XAI_API_KEY")
    form = ModelProfileForm(instance=profile)
    assert ("XAI_API_KEY", "XAI_API_KEY (no longer allowed)") in form.fields["api_key_env"].widget.choices
    with pytest.raises(InvalidForm) as refused:
        team_setup.update_model_profile(admin, profile, profile_data(name="old", api_key_env="XAI_API_KEY"))
    assert refused.value.field == "api_key_env"


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"api_base": "http://models.internal:8001/v1", "model": "anthropic/claude"}, "model", "must be openai/"),
        ({"api_base": "http://169.254.169.254/latest"}, "api_base", "not a host the operator allows"),
        ({"model": "ollama/llama3"}, "model", "SWARM_MODEL_PROVIDERS"),
        ({"model": "sim/diligent"}, "api_key_env", "simulated model"),
        ({"model": "openai/gpt 4o"}, "model", "must not contain spaces"),
        ({"name": "my profile"}, "name", "must start with a letter or digit"),
        ({"context_window": "0"}, "context_window", "greater than or equal to 1"),
        ({"input_usd_per_mtok": "-1"}, "input_usd_per_mtok", "greater than or equal to 0"),
    ],
)
def test_a_profile_the_rules_refuse_names_its_field(team, admin, operator_allows, fields, field, says):
    with pytest.raises(InvalidForm) as refused:
        team_setup.create_model_profile(admin, team, profile_data(**fields))
    assert refused.value.field == field
    assert says in refused.value.message
    assert not ModelProfile.objects.exists()


def test_an_allowed_host_is_accepted_for_an_openai_compatible_model(team, admin, operator_allows):
    profile = team_setup.create_model_profile(
        admin, team, profile_data(api_base="http://models.internal:8001/v1", api_key_env="")
    )
    assert profile.api_base == "http://models.internal:8001/v1"


def test_several_problems_are_all_said_the_first_field_named(team, admin, operator_allows):
    with pytest.raises(InvalidForm) as refused:
        team_setup.create_model_profile(admin, team, profile_data(name="a b", context_window="-5"))
    assert refused.value.field == "name"
    assert refused.value.message.startswith("name: must start") and "; context_window: " in refused.value.message


def test_a_name_the_team_already_has_is_a_409_on_the_name_field(team, admin, operator_allows):
    team_setup.create_model_profile(admin, team, profile_data())
    with pytest.raises(InvalidForm) as refused:
        team_setup.create_model_profile(admin, team, profile_data(model="openai/gpt-4o-mini"))
    assert (refused.value.status, refused.value.field) == (409, "name")
    assert refused.value.message == "Your team already has a model profile named “gpt”."
    assert refused.value.form.errors["name"] == [refused.value.message]
    assert ModelProfile.objects.get().model == "openai/gpt-4o"


def test_an_edit_keeps_the_profiles_name_which_rosters_use(team, admin, operator_allows):
    profile = team_setup.create_model_profile(admin, team, profile_data())
    team_setup.update_model_profile(admin, profile, profile_data(name="renamed", model="openai/gpt-4o-mini"))
    profile.refresh_from_db()
    assert (profile.name, profile.model) == ("gpt", "openai/gpt-4o-mini")


def test_a_profile_in_use_is_not_deleted_and_the_refusal_says_where_it_is_used(team, admin, profiles):
    fast, careful = profiles
    repo = repo_on(team)
    running = task_on(repo, "Running task")
    Agent.objects.create(task=running, name="Ada", profile=fast, status=Agent.Status.RUNNING)
    with pytest.raises(ServiceError) as refused:
        team_setup.delete_model_profile(admin, fast)
    assert refused.value.status == 409 and "running on fast (“Ada”): stop them" in refused.value.message

    Agent.objects.filter(name="Ada").update(status=Agent.Status.STOPPED)
    with pytest.raises(ServiceError) as refused:
        team_setup.delete_model_profile(admin, fast)
    assert "Agents of tasks “Running task” ran on fast" in refused.value.message

    task_on(repo, "Not launched", roster=[("Bo", "careful")])
    with pytest.raises(ServiceError) as refused:
        team_setup.delete_model_profile(admin, careful)
    assert "careful is named in the rosters of “Not launched”" in refused.value.message
    assert ModelProfile.objects.filter(pk__in=[fast.pk, careful.pk]).count() == 2

    judge = ModelProfile.objects.create(team=team, name="judge", model="sim/judge")
    task_on(repo, "Judged").judge_profiles.add(judge)
    with pytest.raises(ServiceError) as refused:
        team_setup.delete_model_profile(admin, judge)
    assert "judge panels of “Judged”" in refused.value.message

    unused = ModelProfile.objects.create(team=team, name="unused", model="sim/lazy")  # control: nothing uses it
    team_setup.delete_model_profile(admin, unused)
    assert not ModelProfile.objects.filter(pk=unused.pk).exists()


def test_only_a_team_admin_deletes_a_profile(team, profiles):
    operator = member(team, "olga", Membership.Role.OPERATOR)
    with pytest.raises(Forbidden):
        team_setup.delete_model_profile(operator, profiles[0])
    assert ModelProfile.objects.filter(pk=profiles[0].pk).exists()


# ---------------------------------------------------------------- repositories


@pytest.mark.parametrize("role", ["viewer", "operator", "reviewer"])
def test_only_a_team_admin_may_add_a_repository_and_nothing_is_looked_at_first(team, operator_allows, role):
    someone = member(team, "someone", role)
    with pytest.raises(Forbidden):
        team_setup.create_repository(someone, team, {"name": "app", "path": "relative"})  # a 403, not the path's 400
    assert not Repository.objects.exists()


def test_a_repository_path_must_be_under_the_operators_roots_and_outside_swarms_own_files(
    team, admin, operator_allows, tmp_path
):
    root = tmp_path / "repos"
    (tmp_path / "elsewhere").mkdir()
    cases = [
        ("relative/app", "must be an absolute path on the server."),
        (str(tmp_path / "elsewhere"), f"is outside the directories this server allows repositories in: {root}, "),
        (f"{root}/../elsewhere", "is outside the directories"),
        (str(root / "missing"), "is not a directory on the server."),
        (str(operator_allows.DATA_DIR), "is or holds Swarm's data directory"),
        (str(operator_allows.BASE_DIR), "is or holds Swarm's own checkout"),
    ]
    operator_allows.SWARM_REPO_ROOTS = [root, operator_allows.DATA_DIR, operator_allows.BASE_DIR]
    for path, says in cases:
        with pytest.raises(InvalidForm) as refused:
            team_setup.create_repository(admin, team, {"name": "app", "path": path})
        assert refused.value.field == "path", path
        assert refused.value.message.startswith(f"path {says}"), refused.value.message

    operator_allows.SWARM_REPO_ROOTS = []
    with pytest.raises(InvalidForm) as refused:
        team_setup.create_repository(admin, team, {"name": "app", "path": str(root)})
    assert "allows no repository directories (an operator sets SWARM_REPO_ROOTS)" in refused.value.message
    assert not Repository.objects.exists()


def test_a_repositorys_path_is_fixed_once_added_while_its_name_and_verify_command_change(team, admin):
    repo = repo_on(team)
    form = RepositoryForm(instance=repo)
    assert form.fields["path"].disabled
    team_setup.update_repository(
        admin, repo, {"name": "app2", "path": "/etc", "verify_command": "make test", "default_branch": "x"}
    )
    repo.refresh_from_db()
    assert (repo.name, repo.path, repo.verify_command, repo.default_branch) == ("app2", "/srv/app", "make test", "main")


def test_a_repository_in_use_is_not_deleted_and_the_refusal_says_why(team, admin, profiles):
    repo = repo_on(team)
    task = task_on(repo, "Fix it")
    Agent.objects.create(task=task, name="Ada", profile=profiles[0], status=Agent.Status.PAUSED)
    with pytest.raises(ServiceError) as refused:
        team_setup.delete_repository(admin, repo)
    assert refused.value.status == 409
    assert refused.value.message.startswith("1 agents still work in app (“Ada”, task “Fix it”): stop them")

    Agent.objects.update(status=Agent.Status.ACCEPTED)
    with pytest.raises(ServiceError) as refused:
        team_setup.delete_repository(admin, repo)
    assert refused.value.message.startswith("Tasks “Fix it” are written on app: delete them first")
    assert Repository.objects.filter(pk=repo.pk).exists()

    unused = repo_on(team, "unused")  # control
    team_setup.delete_repository(admin, unused)
    assert not Repository.objects.filter(pk=unused.pk).exists()


def test_only_a_team_admin_deletes_a_repository(team):
    repo = repo_on(team)
    with pytest.raises(Forbidden):
        team_setup.delete_repository(member(team, "olga", Membership.Role.OPERATOR), repo)
    assert Repository.objects.filter(pk=repo.pk).exists()
