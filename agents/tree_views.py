"""The planner's tree of a task, live: planner, sub-planners and workers with their status and budgets, refreshed
by the page every few seconds; a person messages, pauses or stops any node with everything below it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from agents import planner
from agents.forms import MessageForm
from agents.models import TaskSpec
from agents.permissions import grants, owned_or_404
from agents.services import ServiceError

TREE_SECONDS = 2  # how often the page asks for the tree again


@login_required
@require_GET
def task_tree(request, pk: int):
    task = owned_or_404(request.user, TaskSpec.objects.select_related("repo", "team"), pk)
    roots = planner.tree(task)
    agents = [node.agent for node in planner.nodes(roots)]  # (the tree's one query answers it all)
    context = {
        "task": task,
        "roots": roots,
        "can": grants(request.user, task.team_id),
        "agents": [(agent.pk, agent.name) for agent in agents],
        "tree_seconds": TREE_SECONDS,
        "live": any(not agent.finished for agent in agents) or not task.launched_at,  # else it rests
    }
    if request.htmx and not request.htmx.boosted:
        return render(request, "agents/partials/tree.html", context)
    return render(request, "agents/task_tree.html", context)


@login_required
@require_POST
def tree_act(request, pk: int, action: str):
    """Pause, stop or message an agent of the task (the form's `agent`) and every agent below it."""
    if action not in {"pause", "stop", "message"}:
        raise Http404("unknown action")
    task = owned_or_404(request.user, TaskSpec.objects, pk, "message" if action == "message" else "control")
    agent = task.agents.filter(pk=request.POST.get("agent") if str(request.POST.get("agent", "")).isdigit() else 0)
    agent = agent.first()
    if agent is None:
        messages.error(request, "Choose an agent of this task.")
        return redirect("agents:task_tree", task.pk)
    text = ""
    if action == "message":
        form = MessageForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Your message was not sent: it needs some text (at most 20,000 characters).")
            return redirect("agents:task_tree", task.pk)
        text = form.cleaned_data["text"]
    try:
        reached = planner.act_on_subtree(agent, action, request.user.username, text, author=request.user)
        done = {"pause": "Paused", "stop": "Stopped", "message": "Message queued for"}[action]
        messages.success(request, f"{done} {reached} agent{'s' if reached != 1 else ''}: {agent.name} and below.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("agents:task_tree", task.pk)
