"""Pages for a fleet: acting on many agents of a task at once, and the team's dashboard."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Min
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from agents import bulk, charts, families, fleet
from agents.errors import ServiceError
from agents.events import attention_context
from agents.models import Agent, Event, TaskSpec
from agents.permissions import grants, owned_or_404
from agents.teams import team_for

DASHBOARD_HOURS = 24  # the dashboard's charts cover at most this much of the past


@login_required
@require_POST
def task_act(request, pk: int):
    """One action on the agents ticked by hand (`ids`), or on every agent the table's filters keep
    (`scope=filter`). Ids that are not this task's refuse the whole request: nothing is done to any agent."""
    action = request.POST.get("action", "")
    spec = bulk.ACTIONS.get(action)
    task = owned_or_404(request.user, TaskSpec.objects, pk, spec.permission if spec else "control")
    view = fleet.TableView.from_params(request.POST)
    status, note, error = 200, "", ""
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
            )
            note = str(outcome)
        except ServiceError as exc:
            status, error = exc.status, exc.message
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
    now = timezone.now()
    launched = TaskSpec.objects.in_team(team).aggregate(first=Min("launched_at"))["first"]
    window = charts.Window.covering(max(launched or now, now - timedelta(hours=DASHBOARD_HOURS)), now)
    agents = Agent.objects.in_team(team)
    events = Event.objects.filter(agent__in=agents)
    context = {
        "team": team,
        "chart_window": window,
        "charts": charts.for_events(events, window),
        "families": families.family_stats(agents),
        **attention_context(agents),
    }
    return render(request, "agents/dashboard.html", context)
