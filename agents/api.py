"""JSON API (token auth). Filled in by the API work; health is needed by the run modes now."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse


def health(request):
    return JsonResponse({"status": "ok", "mode": "distributed" if settings.SWARM_EXECUTOR == "celery" else "embedded"})
