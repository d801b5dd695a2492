"""What the web process does for its workers when they have disks of their own (SWARM_WORKER_DISK=local): they ask
with the worker credential (agents/git_http.worker_refusal), like their git requests."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from agents.git_http import worker_refusal
from agents.services import ServiceError
from judges import services
from judges.models import Verdict


def _text(text: str, status: int = 200) -> HttpResponse:
    return HttpResponse(f"{text}\n", status=status, content_type="text/plain")


@csrf_exempt
@require_POST
def auto_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """A worker verified a submission that the task's auto-approve policy lets through: merge it here, where the
    person's repository is, from the branch the worker pushed. The policy is checked again from the database: the
    credential lets a worker ask, never decide."""
    refusal = worker_refusal(request)
    if refusal is not None:
        return refusal
    verdict = get_object_or_404(Verdict.objects.select_related("agent__task"), pk=pk)
    if not services.auto_approvable(verdict):
        return _text("this verdict is not one the task's auto-approve policy lets through", 409)
    try:
        services.auto_approve(verdict)
    except ServiceError as exc:
        return _text(str(exc), exc.status)
    return _text(f"merged {verdict.merged_commit}")
