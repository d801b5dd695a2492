"""Judging in Django's admin: read-only, since verdicts change only through judges/services.py (the conditional
update and its audit row) and judgements and reviews are the audit trail itself."""

from __future__ import annotations

from django.contrib import admin

from agents.admin import ReadOnlyAdmin
from judges.models import BaseRun, Judgement, Review, Verdict


@admin.register(Verdict)
class VerdictAdmin(ReadOnlyAdmin):
    list_display = ["id", "agent", "status", "recommendation", "commit_sha", "created_at", "decided_by", "decided_at"]
    list_filter = ["status", "recommendation", "rule"]
    search_fields = ["agent__name", "agent__task__title", "commit_sha"]
    list_select_related = ["agent", "decided_by"]
    date_hierarchy = "created_at"


@admin.register(Judgement)
class JudgementAdmin(ReadOnlyAdmin):
    list_display = ["verdict", "judge", "model", "family", "recommendation", "created_at"]
    list_filter = ["recommendation", "family"]
    search_fields = ["judge", "model", "verdict__agent__name"]
    list_select_related = ["verdict"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["verdict", "reviewer", "decision", "outcome", "created_at"]
    list_filter = ["decision"]
    search_fields = ["comment", "outcome", "reviewer__username", "verdict__agent__name"]
    list_select_related = ["verdict", "reviewer"]


@admin.register(BaseRun)
class BaseRunAdmin(ReadOnlyAdmin):
    """The verify command's runs on base commits (judges/testruns.py): a cache, written only by verification."""

    list_display = ["repository", "base_commit", "exit_code", "seconds", "created_at"]
    list_filter = ["exit_code"]
    search_fields = ["repository__name", "base_commit", "command"]
    list_select_related = ["repository"]
