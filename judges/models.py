"""Verification: verdicts with their evidence, and the human reviews that decide them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from agents.models import Agent, TeamQuerySet


class VerdictQuerySet(TeamQuerySet):
    def pending(self) -> VerdictQuerySet:
        return self.filter(status=Verdict.Status.PENDING)


class Verdict(models.Model):
    """What verification found for one submitted commit; advisory until a person decides."""

    TEAM_PATH = "agent__task__team"
    objects = VerdictQuerySet.as_manager()

    class Recommendation(models.TextChoices):
        APPROVE = "approve", "recommend approve"
        REJECT = "reject", "recommend reject"
        NEEDS_PERSON = "needs_person", "needs a person"

    class Status(models.TextChoices):
        PENDING = "pending"
        MERGING = "merging"
        APPROVED = "approved"
        REJECTED = "rejected"
        SUPERSEDED = "superseded"

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="verdicts")
    commit_sha = models.CharField(max_length=40)
    recommendation = models.CharField(max_length=20, choices=Recommendation.choices)
    reasons = models.JSONField(default=list)  # list of sentences
    evidence = models.JSONField(default=dict)  # {"verify": {"command", "exit_code", "output"}, "diff_stat": ...}
    summary = models.TextField(blank=True, default="")  # the agent's own claim, kept as data
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    rule = models.CharField(max_length=10, default="unanimous")
    diff = models.TextField(blank=True, default="")  # the submitted diff, kept as evidence (capped)
    merge_error = models.TextField(blank=True, default="")
    merged_commit = models.CharField(max_length=40, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["created_at", "id"]


class Judgement(models.Model):
    """One judge's structured opinion of a submission; a judge that errors never counts as approval."""

    verdict = models.ForeignKey(Verdict, on_delete=models.CASCADE, related_name="judgements")
    judge = models.CharField(max_length=100)  # the model profile's name
    model = models.CharField(max_length=200)
    family = models.CharField(max_length=50)
    recommendation = models.CharField(max_length=20)  # approve / reject / needs_person / error
    checklist = models.JSONField(default=list)  # [{"kind", "item", "status": met|not_met|unknown, "evidence"}]
    reasons = models.JSONField(default=list)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class Review(models.Model):
    """The audit row of a person's decision on a verdict (refused attempts included)."""

    verdict = models.ForeignKey(Verdict, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    decision = models.CharField(max_length=10)  # approve / reject
    comment = models.TextField(blank=True, default="")
    line_comments = models.JSONField(default=list)  # [{"path", "line", "text"}] on the diff
    commit_sha = models.CharField(max_length=40)
    outcome = models.CharField(max_length=300, default="done")  # done, merged <sha>, refused: …, conflict: …
    created_at = models.DateTimeField(default=timezone.now)


class EventKind(models.TextChoices):
    """Kinds of agent events that judging records; rendered by templates/judges/events/<kind>.html (judges.apps)."""

    VERIFICATION = "verification"
    VERDICT = "verdict"
    MERGE_FAILED = "merge_failed"
    EXPORTED = "exported"
