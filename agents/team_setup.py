"""A team's repositories and model profiles: every change to them, for the pages, the API and Django's admin.

The rules are the forms' (agents/setup_forms.py); each change checks the role (team admins), saves in one transaction,
and a removal is refused while something uses what it would remove. Apart from agents/services.py, which holds the
changes to the work itself (tasks, agents, events, messages).
"""

from __future__ import annotations

import shutil

from django.db import IntegrityError, transaction

from agents import cloning, hostgit
from agents.errors import InvalidForm, ServiceError
from agents.models import Agent, ModelProfile, Repository, TaskSpec, Team
from agents.permissions import require
from agents.setup_forms import ModelProfileForm, RepositoryForm

FINISHED = (Agent.Status.ACCEPTED, Agent.Status.STOPPED)


def _save_form(by, form, action: str, what: str, then=None):
    """Check the role, validate, save in one transaction (with `then(saved)`, if given); a name the team already has
    is a 409 on the name field."""
    if form.instance.team_id is None and not form.is_valid():  # Django's admin: the team is one of the form's fields
        raise InvalidForm(form)
    require(by, form.instance.team_id, action)
    if not form.is_valid():
        raise InvalidForm(form)
    name = form.cleaned_data["name"]
    try:
        with transaction.atomic():
            saved = form.save()
            if then:
                then(saved)
            return saved
    except IntegrityError:
        message = f"Your team already has a {what} named “{name}”."
        form.add_error("name", message)
        raise InvalidForm(form, 409, message) from None


def save_repository(by, form: RepositoryForm) -> Repository:
    """Add or change a repository as the form says (RepositoryForm's rules); team admins only. One added by URL is
    cloned in the background (agents/cloning.py)."""
    adding = form.instance.pk is None
    return _save_form(by, form, "manage_repos", "repository", lambda repo: adding and repo.url and cloning.added(repo))


def save_model_profile(by, form: ModelProfileForm) -> ModelProfile:
    """Add or change a model profile (the operator's keys, hosts and providers); team admins only. Agents that use
    a changed profile call the changed model from their next step."""
    return _save_form(by, form, "manage_models", "model profile")


def create_repository(by, team: Team, data) -> Repository:
    """Register a git repository that is on the server, or clone one from a URL."""
    return save_repository(by, RepositoryForm(data, instance=Repository(team=team)))


def update_repository(by, repo: Repository, data) -> Repository:
    return save_repository(by, RepositoryForm(data, instance=repo))


def create_model_profile(by, team: Team, data) -> ModelProfile:
    return save_model_profile(by, ModelProfileForm(data, instance=ModelProfile(team=team)))


def update_model_profile(by, profile: ModelProfile, data) -> ModelProfile:
    return save_model_profile(by, ModelProfileForm(data, instance=profile))


def _names(values, limit: int = 3) -> str:
    values = list(dict.fromkeys(values))
    shown = ", ".join(f"“{v}”" for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def delete_repository(by, repo: Repository) -> None:
    """Forget a repository (nothing on the server is deleted, except Swarm's own clone of one added by URL); refused
    while any task is written on it, or while it is being cloned or fetched."""
    with transaction.atomic():
        require(by, repo.team_id, "manage_repos")
        repo = (
            Repository.objects.select_for_update().filter(pk=repo.pk).first() or repo
        )  # a task written meanwhile waits
        if repo.busy:
            raise ServiceError(f"{repo.name} is being cloned or fetched: remove it once that is over.", 409)
        working = Agent.objects.filter(task__repo=repo).exclude(status__in=FINISHED).select_related("task")
        if working:
            raise ServiceError(
                f"{len(working)} agents still work in {repo.name} ({_names(a.name for a in working)}, task "
                f"{_names(a.task.title for a in working)}): stop them, then delete their tasks, before removing it.",
                409,
            )
        tasks = TaskSpec.objects.filter(repo=repo).values_list("title", flat=True)
        if tasks:
            raise ServiceError(
                f"Tasks {_names(tasks)} are written on {repo.name}: delete them first (their agents' branches and"
                " audit trail live in it).",
                409,
            )
        repo.delete()
        if repo.url and hostgit.is_clone(repo.path):
            transaction.on_commit(lambda: shutil.rmtree(repo.path, ignore_errors=True))


def delete_model_profile(by, profile: ModelProfile) -> None:
    """Delete a profile no agent, roster or judge panel uses; otherwise say which ones do."""
    with transaction.atomic():
        require(by, profile.team_id, "manage_models")
        ModelProfile.objects.select_for_update().filter(pk=profile.pk).first()
        users = list(Agent.objects.filter(profile=profile).select_related("task"))
        working = [a for a in users if a.status not in FINISHED]
        if working:
            raise ServiceError(
                f"{len(working)} agents are running on {profile.name} ({_names(a.name for a in working)}): stop them"
                " before deleting it.",
                409,
            )
        if users:
            raise ServiceError(
                f"Agents of tasks {_names(a.task.title for a in users)} ran on {profile.name}; their records name it,"
                " so it stays. Edit it instead, or leave it unused.",
                409,
            )
        tasks = TaskSpec.objects.in_team(profile.team_id)
        rostered = [t.title for t in tasks if any(r.get("profile") == profile.name for r in t.roster)]
        judging = list(tasks.filter(judge_profiles=profile).values_list("title", flat=True))
        if rostered or judging:
            where = ([f"the rosters of {_names(rostered)}"] if rostered else []) + (
                [f"the judge panels of {_names(judging)}"] if judging else []
            )
            raise ServiceError(f"{profile.name} is named in {' and '.join(where)}: change those tasks first.", 409)
        profile.delete()
