"""A taste guide's versions, each with what changed since the one before, rule by rule (agents/taste.py)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agents import taste
from agents.models import TasteGuide
from agents.permissions import owned_or_404


@login_required
@require_GET
def taste_versions(request, pk: int):
    guide = owned_or_404(request.user, TasteGuide.objects, pk)
    versions = list(guide.versions.select_related("created_by").order_by("number"))
    rows = [
        {"version": v, "diff": taste.diff(versions[i - 1].rules if i else [], v.rules)} for i, v in enumerate(versions)
    ]
    return render(request, "agents/taste_versions.html", {"guide": guide, "rows": list(reversed(rows))})
