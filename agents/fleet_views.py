"""Pages for a fleet: acting on many agents of a task at once, and the team's dashboard."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import condition, require_GET, require_POST

from agents import bulk, charts, families, fleet
from agents.errors import ServiceError
from agents.events import attention_context
from agents.models import Agent, TaskSpec
from agents.permissions import grants, owned_or_404
from agents.teams import team_for


@login_required
@require_POST
def task_act(request, pk: int):
    """One action on the agents ticked by hand (`ids`), or on every agent the table's filters keep
    (`scope=filter`). Ids that are not this task's refuse the whole request: nothing is done to any agent."""
    action = request.POST.get("action", "")
    spec = bulk.ACTIONS.get(action)
    task = owned_or_404(request.user, TaskSpec.objects, pk, spec.permission if spec else "control")
    view = fleet.TableView.from_params(request.POST)
    status, note, error, outcome = 200, "", "", None
    if spec is None:
        status, error = 400, "Choose what to do with the selected agents."
    elif request.POST.get("scope") == "filter":
        agents = list(view.apply(task.agents.all()).select_related("task", "profile"))
    else:
        ids = fleet.selected_ids(request.POST)
        agents = list(task.agents.filter(pk__in=ids).select_related("task", "profile"))
        if not ids:
            status, error = 400, "Select some agents first (tick them, or choose all that match the filter)."
        elif len(agents) != len(ids):
            missing = len(ids) - len(agents)
            status, error = 400, f"{missing} of the selected agents are not agents of this task; nothing was done."
    if not error:
        try:
            outcome = bulk.act(
                request.user,
                task.team_id,
                action,
                agents,
                text=request.POST.get("text", "")[:20_000],
                client_id=request.POST.get("client_id", "")[:64],
                hold=True,
            )
            note = str(outcome)
        except ServiceError as exc:
            status, error = exc.status, exc.message
    try:
        return _answer(request, task, view, status, note, error)
    finally:
        if outcome is not None:
            outcome.release()  # the agents' broadcasts once the answer is ready, not competing with it


def _answer(request, task: TaskSpec, view: fleet.TableView, status: int, note: str, error: str):
    if request.htmx:
        context = {"task": task, "can": grants(request.user, task.team_id), "note": note, "error": error}
        context.update(fleet.table(task, view))
        return render(request, "agents/partials/agent_table.html", context, status=status)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, note[:1].upper() + note[1:])
    query = view.query()
    return redirect(task.get_absolute_url() + (f"?{query}" if query else ""))


@login_required
@require_GET
def dashboard(request):
    """The current team at a glance: who needs a person, and the trends of every task's agents."""
    team = team_for(request, "view")
    agents = Agent.objects.in_team(team)
    context = {
        "team": team,
        **charts.team_charts(team),
        "families": families.family_stats(agents),
        **attention_context(agents),
    }
    return render(request, "agents/dashboard.html", context)


def _task_charts_etag(request, pk: int) -> str:
    task = owned_or_404(request.user, TaskSpec.objects, pk)
    return f'"{charts.Progress.of(task.agents.all()).tag("task", task.pk)}"'


@login_required
@require_GET
@condition(etag_func=_task_charts_etag)  # a poll that finds nothing new is a 304: one aggregate, nothing drawn
def task_charts(request, pk: int):
    """The task page's charts alone, for its poll (templates/agents/partials/charts.html)."""
    task = owned_or_404(request.user, TaskSpec.objects.select_related("team"), pk)
    return _fragment(render(request, "agents/partials/charts.html", charts.task_charts(task)))


def _team_charts_etag(request) -> str:
    team = team_for(request, "view")
    return f'"{charts.Progress.of(Agent.objects.in_team(team)).tag("team", team.pk)}"'


@login_required
@require_GET
@condition(etag_func=_team_charts_etag)
def dashboard_charts(request):
    """The dashboard's charts alone, for its poll."""
    return _fragment(render(request, "agents/partials/charts.html", charts.team_charts(team_for(request, "view"))))


def _fragment(response):
    response["Cache-Control"] = "private, no-cache"
    return response
