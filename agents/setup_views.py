"""A team's repositories and model profiles in the browser: lists every member reads, forms for the team's admins
(the rules are agents/setup_forms.py's, the writes agents/team_setup.py's), and a model profile's "Test connection"."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents import cloning, team_setup
from agents.errors import InvalidForm, ServiceError
from agents.models import Agent, ModelProfile, Repository
from agents.permissions import grants, owned_or_404
from agents.setup_forms import ModelProfileForm, RepositoryForm, plain_number
from agents.teams import team_for

FINISHED = [Agent.Status.ACCEPTED, Agent.Status.STOPPED]
REPO_PAGE = Repository.objects.select_related("team")
PROFILE_PAGE = ModelProfile.objects.select_related("team")


def _form_page(request, template: str, form, obj, status: int = 200, **extra):
    roots, git_hosts = settings.SWARM_REPO_ROOTS, settings.SWARM_GIT_HOSTS
    context = {"form": form, "object": obj, "team": obj.team, "roots": roots, "git_hosts": git_hosts, **extra}
    return render(request, template, context, status=status)


def _save(request, save, form, template: str, obj, done: str, back: str):
    """GET shows the form; POST saves through the service, or shows the form again with its errors in place."""
    status = 200
    if request.method == "POST":
        try:
            saved = save()
        except InvalidForm as invalid:
            form, status = invalid.form, invalid.status
        else:
            messages.success(request, done.format(name=saved.name))
            return redirect(back)
    return _form_page(request, template, form, obj, status)


# ---------------------------------------------------------------- repositories


def _with_counts(repos):
    return repos.annotate(
        n_tasks=Count("tasks", distinct=True),
        n_working=Count("tasks__agents", filter=~Q(tasks__agents__status__in=FINISHED)),
    )


@login_required
@require_GET
def repo_list(request):
    team = team_for(request, "view")
    repos = _with_counts(Repository.objects.in_team(team)).order_by("name", "id")
    context = {"team": team, "repos": repos, "can": grants(request.user, team.pk), "roots": settings.SWARM_REPO_ROOTS}
    return render(request, "agents/repo_list.html", context)


def _repo_row(request, pk: int, action: str):
    repo = owned_or_404(request.user, REPO_PAGE, pk, action)
    return render(
        request,
        "agents/partials/repo_row.html",
        {"repo": _with_counts(REPO_PAGE.filter(pk=repo.pk)).get(), "can": grants(request.user, repo.team_id)},
    )


@login_required
@require_GET
def repo_row(request, pk: int):
    """One repository's row: what the list polls while a clone or fetch runs (it stops polling once it is over)."""
    return _repo_row(request, pk, "view")


@login_required
@require_POST
def repo_fetch(request, pk: int):
    """Fetch a clone again, or retry a failed clone; both in the background, shown live in the row."""
    repo = owned_or_404(request.user, REPO_PAGE, pk, "manage_repos")
    what = "Cloning" if repo.clone_status == Repository.CloneStatus.FAILED else "Fetching"
    try:
        repo = cloning.refresh(request.user, repo)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{what} “{repo.name}” in the background; its progress shows below.")
    if request.htmx and not request.htmx.boosted:
        return _repo_row(request, pk, "manage_repos")
    return redirect("agents:repo_list")


@login_required
@require_http_methods(["GET", "POST"])
def repo_new(request):
    repo = Repository(team=team_for(request, "manage_repos"))
    return _save(
        request,
        lambda: team_setup.create_repository(request.user, repo.team, request.POST),
        RepositoryForm(instance=repo),
        "agents/repo_form.html",
        repo,
        "Repository “{name}” added.",
        "agents:repo_list",
    )


@login_required
@require_http_methods(["GET", "POST"])
def repo_edit(request, pk: int):
    repo = owned_or_404(request.user, REPO_PAGE, pk, "manage_repos")
    return _save(
        request,
        lambda: team_setup.update_repository(request.user, repo, request.POST),
        RepositoryForm(instance=repo),
        "agents/repo_form.html",
        repo,
        "Repository “{name}” saved.",
        "agents:repo_list",
    )


@login_required
@require_POST
def repo_delete(request, pk: int):
    repo = owned_or_404(request.user, REPO_PAGE, pk, "manage_repos")
    try:
        team_setup.delete_repository(request.user, repo)
        messages.success(request, f"Repository “{repo.name}” removed from Swarm; nothing on the server was deleted.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("agents:repo_list")


# ---------------------------------------------------------------- model profiles


@login_required
@require_GET
def model_list(request):
    team = team_for(request, "view")
    profiles = list(
        ModelProfile.objects.in_team(team)
        .annotate(n_agents=Count("agents"), n_working=Count("agents", filter=~Q(agents__status__in=FINISHED)))
        .order_by("name", "id")
    )
    for p in profiles:
        prices = (p.input_usd_per_mtok, p.output_usd_per_mtok)
        p.prices = "" if prices == (None, None) else " / ".join(plain_number(v or 0) for v in prices)
    return render(
        request,
        "agents/model_list.html",
        {"team": team, "profiles": profiles, "can": grants(request.user, team.pk)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def model_new(request):
    profile = ModelProfile(team=team_for(request, "manage_models"))
    return _save(
        request,
        lambda: team_setup.create_model_profile(request.user, profile.team, request.POST),
        ModelProfileForm(instance=profile),
        "agents/model_form.html",
        profile,
        "Model profile “{name}” added.",
        "agents:model_list",
    )


@login_required
@require_http_methods(["GET", "POST"])
def model_edit(request, pk: int):
    profile = owned_or_404(request.user, PROFILE_PAGE, pk, "manage_models")
    return _save(
        request,
        lambda: team_setup.update_model_profile(request.user, profile, request.POST),
        ModelProfileForm(instance=profile),
        "agents/model_form.html",
        profile,
        "Model profile “{name}” saved.",
        "agents:model_list",
    )


@login_required
@require_POST
def model_delete(request, pk: int):
    profile = owned_or_404(request.user, PROFILE_PAGE, pk, "manage_models")
    try:
        team_setup.delete_model_profile(request.user, profile)
        messages.success(request, f"Model profile “{profile.name}” deleted.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("agents:model_list")


@login_required
@require_POST
def model_test(request):
    """One tiny real call with the form's values as they are (saved or not): the answer, or the provider's error with
    any key redacted. Nothing is saved. An htmx request gets the result alone, a plain POST the whole form page."""
    pk = request.POST.get("profile", "")
    if pk.isdigit():
        profile = owned_or_404(request.user, PROFILE_PAGE, int(pk), "manage_models")
    else:
        profile = ModelProfile(team=team_for(request, "manage_models"))
    form = ModelProfileForm(request.POST, instance=profile)
    result = {"profile": form.data.get("name", "") or profile.name, "seconds": None}
    if not form.is_valid():
        result["error"] = "Not tested: " + InvalidForm(form).message
    else:
        from agents import llm  # imports litellm (seconds): only when a person asks for a test, not at start-up

        started = time.monotonic()
        try:
            turn = llm.probe(form.instance)
        except llm.ModelError as exc:
            result["error"] = str(exc)
        else:
            result.update(answer=turn.content, tools=[c.name for c in turn.tool_calls], turn=turn)
        result["seconds"] = time.monotonic() - started
    if request.htmx and not request.htmx.boosted:
        return render(request, "agents/partials/connection_result.html", {"result": result})
    template, obj = "agents/model_form.html", profile
    return _form_page(request, template, form, obj, result=result)
