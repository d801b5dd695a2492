from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Sum
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents import charts, fleet, messaging, receipts, roster, sandbox, services, task_setup
from agents.events import DENSE_FROM, attention_context, preparation, task_totals
from agents.forms import MessageForm, TaskSpecForm, TasteGuideForm
from agents.models import Agent, TaskSpec, TasteGuide
from agents.permissions import grants, owned_or_404
from agents.services import ServiceError
from agents.teams import current_team_id, team_for
from agents.text import render_markdown

TASK_PAGE = TaskSpec.objects.select_related("repo", "team")
AGENT_PAGE = Agent.objects.select_related("task", "task__repo", "profile", "parent")


def permission_denied(request, exception=None):
    """403 as a page (or, for an htmx swap, a fragment) that says which role the action needs."""
    message = str(exception or "") or "Your role in this team does not allow this."
    fragment = request.htmx and not request.htmx.boosted
    template = "agents/partials/forbidden.html" if fragment else "403.html"
    return render(request, template, {"message": message}, status=403)


@login_required
@require_GET
def task_list(request):
    team_id = current_team_id(request)
    tasks = (
        TaskSpec.objects.in_team(team_id)
        .select_related("repo")
        .annotate(
            n_agents=Count("agents", distinct=True),
            cost=Sum("agents__cost_usd"),
        )
    )
    by_status = {}
    for row in Agent.objects.in_team(team_id).values("task_id", "status").annotate(n=Count("id")):
        by_status.setdefault(row["task_id"], []).append((row["status"], row["n"]))
    for task in tasks:
        task.status_counts = sorted(by_status.get(task.pk, []))
    context = {"tasks": tasks, **attention_context(Agent.objects.in_team(team_id))}
    return render(request, "agents/task_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def task_new(request):
    team = team_for(request, "edit_task")
    policy = grants(request.user, team.pk).set_policy
    form = TaskSpecForm(request.POST or None, team=team, policy=policy)
    if "generate" in request.POST:
        return _task_form_generated(request, form, TaskSpecForm(team=team, policy=policy))
    if request.method == "POST" and form.is_valid():
        task = task_setup.save_task(request.user, form)
        messages.success(request, f"Task “{task.title}” saved.")
        return redirect(task)
    context = {"form": form, **roster.context(form, request.POST or None)}
    return render(request, "agents/task_form.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def task_edit(request, pk: int):
    task = owned_or_404(request.user, TASK_PAGE, pk, "edit_task")
    policy = grants(request.user, task.team_id).set_policy
    form = TaskSpecForm(request.POST or None, instance=task, team=task.team, policy=policy)
    if "generate" in request.POST:
        return _task_form_generated(request, form, TaskSpecForm(instance=task, team=task.team, policy=policy), task)
    if request.method == "POST" and form.is_valid():
        task_setup.save_task(request.user, form)
        messages.success(request, "Task saved.")
        return redirect(task)
    context = {"form": form, "task": task, **roster.context(form, request.POST or None)}
    return render(request, "agents/task_form.html", context, status=400 if form.errors else 200)


def _task_form_generated(request, posted: TaskSpecForm, shown: TaskSpecForm, task=None):
    """The roster generator without JavaScript: the form again as it was typed, its roster filled, nothing saved
    or flagged yet (with JavaScript, roster_generate swaps in the roster block alone)."""
    shown.initial.update(roster.as_typed(posted))
    context = {"form": shown, "task": task, **roster.context(shown, request.POST, fill=True)}
    return render(request, "agents/task_form.html", context)


@login_required
@require_POST
def task_delete(request, pk: int):
    task = owned_or_404(request.user, TASK_PAGE, pk, "edit_task")
    try:
        title = task_setup.delete_task(request.user, task)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect(task)
    messages.success(request, f"Task “{title}” deleted. Its branches stay in the repository.")
    return redirect("agents:task_list")


@login_required
@require_GET
def task_detail(request, pk: int):
    task = owned_or_404(request.user, TASK_PAGE, pk)
    can = grants(request.user, task.team_id)
    dense = len(task.roster) >= DENSE_FROM
    if dense:  # a table of one page of agents, as the query string's view says (agents/fleet.py)
        context = {"task": task, "can": can, **fleet.table(task, fleet.TableView.from_params(request.GET))}
        if request.htmx and not request.htmx.boosted:
            return render(request, "agents/partials/agent_table.html", context)
    else:
        context = {"agents": list(task.agents.select_related("task", "profile", "parent"))}
    sandbox_ok, sandbox_note = sandbox.availability()
    return render(
        request,
        "agents/task_detail.html",
        {
            **context,
            **attention_context(task.agents.all()),
            "task": task,
            "totals": task_totals(task) if task.launched_at else None,
            "dense": dense,
            "progress": preparation(task) if task.launched_at else None,
            "acceptance_html": render_markdown("\n".join(f"- {c}" for c in task.acceptance)),
            "goal_html": render_markdown(task.goal),
            "sandbox_ok": sandbox_ok,
            "sandbox_note": sandbox_note,
            "can": can,
            **(charts.task_charts(task) if task.launched_at else {}),
        },
    )


@login_required
@require_POST
def task_launch(request, pk: int):
    task = owned_or_404(request.user, TASK_PAGE, pk, "launch")
    try:
        agents = services.launch_task(task)
        launched = "the planner" if task.planner else f"{len(agents)} agent{'s' if len(agents) != 1 else ''}"
        messages.success(request, f"Launched {launched}.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect(task)


@login_required
@require_POST
def task_broadcast(request, pk: int):
    task = owned_or_404(request.user, TASK_PAGE, pk, "message")
    form = MessageForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Your message was not sent: it needs some text (at most 20,000 characters).")
        return redirect(task)
    try:
        sent = services.broadcast_message(task, form.cleaned_data["text"], request.user)
        messages.success(request, f"Message queued for {sent} agents.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect(task)


@login_required
@require_POST
def task_stop_all(request, pk: int):
    task = owned_or_404(request.user, TASK_PAGE, pk, "control")
    stopped = services.stop_all(task, request.user.username)
    messages.success(request, f"Stopped {stopped} agents. Their branches are kept.")
    return redirect(task)


@login_required
@require_GET
def agent_detail(request, pk: int):
    agent = owned_or_404(request.user, AGENT_PAGE, pk)
    events = receipts.as_shown(list(agent.events.all()))
    can = grants(request.user, agent.task.team_id)
    return render(
        request,
        "agents/agent_detail.html",
        {
            "agent": agent,
            "events": events,
            "last_seq": events[-1].seq if events else 0,
            "form": MessageForm(),
            "client_msg_id": uuid.uuid4().hex,
            "offer": messaging.offer(agent, request.user),
            "can": can,
            "controls": can.control,
            "replay_speeds": (1, 4, 16),
        },
    )


@login_required
@require_POST
def agent_message(request, pk: int):
    agent = owned_or_404(request.user, AGENT_PAGE, pk, "message")
    form = MessageForm(request.POST)
    # the form carries a fresh id per message, so a double click or a resend queues it once
    client_msg_id = request.POST.get("client_msg_id", "").strip() or None
    error = sent = None
    if form.is_valid():
        try:
            _, when = messaging.send(
                agent,
                form.cleaned_data["text"],
                author=request.user,
                then=form.cleaned_data["then"],
                mode=form.cleaned_data["mode"],
                client_msg_id=client_msg_id,
                seen=request.POST.get("seen") or None,
            )
            sent = messaging.told(agent.name, when)
            form, client_msg_id = MessageForm(), None
        except ServiceError as exc:
            error = exc.message
    elif not request.htmx:  # the fragment shows the field errors in place; a full page needs them said
        error = "Your message was not sent: " + " ".join(e for errors in form.errors.values() for e in errors)
    agent.refresh_from_db()  # as it is now: resumed, or changed meanwhile
    if request.htmx:
        context = {
            "agent": agent,
            "form": form,
            "error": error,
            "sent": sent,
            "offer": messaging.offer(agent, request.user),
            "client_msg_id": client_msg_id or uuid.uuid4().hex,
        }
        return render(request, "agents/partials/message_form.html", context)
    if error:
        messages.error(request, error)
    elif sent:
        messages.success(request, sent)
    return redirect(agent)


@login_required
@require_POST
def agent_control(request, pk: int, action: str):
    if action not in {"stop", "cleanup", "grant", "resume", "pause"}:
        raise Http404("unknown action")
    agent = owned_or_404(request.user, AGENT_PAGE, pk, "control")
    by = request.user.username
    try:  # each service refuses with the sentence of the rule the header's buttons follow (Agent.*_refusal)
        if action == "stop":
            services.stop(agent, by)
        elif action == "cleanup":
            summary = services.clean_up(agent, by, request.POST.get("delete_branch") == "on")
            messages.success(request, f"Cleaned up: {summary}.")
        elif action == "pause":
            services.pause(agent, by)
        elif action == "grant":
            messages.success(request, services.granted(agent, services.grant_budget(agent, by)))
        else:
            services.resume(agent, f"resumed by {by}")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect(agent)


@login_required
@require_GET
def taste_list(request):
    team_id = current_team_id(request)
    guides = TasteGuide.objects.in_team(team_id).order_by("name")
    return render(request, "agents/taste_list.html", {"guides": guides})


@login_required
@require_http_methods(["GET", "POST"])
def taste_edit(request, pk: int | None = None):
    if pk:
        guide = owned_or_404(request.user, TasteGuide.objects, pk, "edit_taste")
    else:
        guide = TasteGuide(team=team_for(request, "edit_taste"))
    form = TasteGuideForm(request.POST or None, instance=guide)
    if request.method == "POST" and form.is_valid():
        task_setup.save_taste_guide(request.user, form)
        messages.success(request, f"Taste guide “{guide.name}” saved.")
        return redirect("agents:taste_list")
    return render(request, "agents/taste_form.html", {"form": form, "guide": guide}, status=400 if form.errors else 200)


@login_required
@require_POST
def taste_delete(request, pk: int):
    guide = owned_or_404(request.user, TasteGuide.objects, pk, "edit_taste")
    try:
        task_setup.delete_taste_guide(request.user, guide)
        messages.success(request, f"Taste guide “{guide.name}” deleted.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("agents:taste_list")


@login_required
@require_POST
def markdown_preview(request):
    field = request.POST.get("field", "text")
    text = request.POST.get(field, "")
    if request.POST.get("as_list"):
        text = "\n".join(f"- {line.strip()}" for line in text.splitlines() if line.strip())
    return HttpResponse(render_markdown(text[:50_000]) or "<p class='muted'>Nothing to preview yet.</p>")


@login_required
@require_POST
def roster_generate(request):
    """The task form's roster block with the roster generated from the posted rows and names (or why not)."""
    form = TaskSpecForm(team=team_for(request, "edit_task"))
    return render(request, "agents/partials/roster.html", roster.context(form, request.POST, fill=True))


@login_required
@require_POST
def roster_preview(request):
    """What the posted roster lines make: the agents by profile, or what is wrong with them."""
    text = request.POST.get("roster_text", "")[: TaskSpecForm.base_fields["roster_text"].max_length]
    context = {"roster_preview": roster.preview(text, team_for(request, "edit_task"))}
    return render(request, "agents/partials/roster_preview.html", context)
