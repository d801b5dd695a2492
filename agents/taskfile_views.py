"""The pages' side of task files (agents/taskfile.py): import a file on the tasks page, export a task from its page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from agents import taskfile
from agents.errors import ServiceError
from agents.models import TaskSpec
from agents.permissions import owned_or_404
from agents.taskfile_schema import MAX_BYTES
from agents.teams import team_for


@login_required
@require_POST
def task_import(request):
    """A task from an uploaded task file; a refusal is said on the tasks page (the file stays on the person's disk)."""
    team = team_for(request, "edit_task")
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a task file (YAML or JSON) to import.")
        return redirect("agents:task_list")
    try:
        if upload.size > MAX_BYTES:
            raise ServiceError(f"The file is larger than the {MAX_BYTES:,} bytes a task file may have.", 413)
        task = taskfile.save(request.user, team, taskfile.parse(upload.read(MAX_BYTES + 1)))
    except ServiceError as exc:
        messages.error(request, f"{upload.name[:100]} was not imported: {exc.message}")
        return redirect("agents:task_list")
    messages.success(request, f"Task “{task.title}” imported from {upload.name[:100]}.")
    return redirect(task)


@login_required
@require_GET
def task_export(request, pk: int):
    task = owned_or_404(request.user, TaskSpec.objects.select_related("repo"), pk, "view")
    fmt = "json" if request.GET.get("format") == "json" else "yaml"
    text = taskfile.dump(taskfile.export(task), fmt)
    kind = "application/json" if fmt == "json" else "application/yaml"
    response = HttpResponse(text, content_type=f"{kind}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="task-{task.pk}.{fmt}"'
    return response
