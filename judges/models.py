"""Verification: verdicts with their evidence, and the human reviews that decide them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from agents.models import Agent, Repository, TeamQuerySet


def evidence_passed(evidence: dict) -> bool:
    """The verify command and every criterion check exited 0: the rule, kept on the verdict as a column (one home)."""
    verify = evidence.get("verify") or {}
    checks = evidence.get("criterion_checks") or []
    return verify.get("exit_code") == 0 and all(c.get("exit_code") == 0 for c in checks)


def tests_flagged(evidence: dict) -> list[str]:
    """What the host found wrong with which tests ran (judges.testruns): tests that stopped running, or that pass
    only because their own code changed. Any flag keeps a verdict from recommending approval, whatever any judge
    says (panel.aggregate), so the auto-approve policy never merges it either."""
    return [str(flag) for flag in evidence.get("test_flags") or []]


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

    # PROTECT: a verdict and its reviews are the audit trail of what was merged and by whom; deleting the agent (or
    # its task, or its team) is refused while they exist, whichever code path tries
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="verdicts")
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
    # evidence_passed(evidence), stored so that the queue can filter on it; evidence is written once, by save()
    verification_passed = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"], name="verdict_status_created")]

    def save(self, *args, **kwargs):
        self.verification_passed = evidence_passed(self.evidence)
        if kwargs.get("update_fields") is not None and "evidence" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "verification_passed"}
        super().save(*args, **kwargs)

    # The rules of a person's decision, in one place: the review buttons and judges.services both ask them.

    def approval_refusal(self, head: str | None = None) -> str:
        """Why this verdict cannot be approved, or "" when it can.

        `head` is the agent branch's current commit when the caller has read it (the service does, from git); a
        page passes none, and the service still refuses a branch that moved after the verdict."""
        if self.status != self.Status.PENDING:
            return f"This verdict was already decided ({self.status})."
        if not self.verification_passed:
            return "Verification did not pass for this commit; it cannot be merged."
        if self.recommendation == self.Recommendation.REJECT:
            return "The panel recommends reject; reject it, or ask for a new verification."
        if head is not None and head != self.commit_sha:
            return "The branch moved after this verdict; a new verification is needed."
        return ""

    def can_approve(self, head: str | None = None) -> bool:
        return not self.approval_refusal(head)

    @property
    def reject_needs_reason(self) -> bool:
        """A person who rejects what the panel did not recommend rejecting says why: the agent gets the reasons."""
        return self.recommendation != self.Recommendation.REJECT

    def rejection_refusal(self, has_reason: bool = True) -> str:
        """Why this verdict cannot be rejected (with or without a comment), or "" when it can."""
        if self.status != self.Status.PENDING:
            return f"This verdict was already decided ({self.status})."
        if self.reject_needs_reason and not has_reason:
            return "Say why you reject: the agent gets your reasons."
        return ""

    def can_reject(self) -> bool:
        return not self.rejection_refusal()


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
    # what an investigating judge did (judges/investigator.py): [{"tool", "args", "result" (its start)}]
    checked = models.JSONField(default=list, blank=True)
    tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    seconds = models.FloatField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class Review(models.Model):
    """The audit row of a person's decision on a verdict (refused attempts included)."""

    verdict = models.ForeignKey(Verdict, on_delete=models.PROTECT, related_name="reviews")  # the audit stays
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
    BROUGHT_UP_TO_DATE = "brought_up_to_date"
    EXPORTED = "exported"


class BaseRun(models.Model):
    """The verify command's per-test outcomes at a base commit, run once in the sandbox and kept: every submission
    on that base is compared with it (judges.testruns) without running the base again."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="base_runs")
    base_commit = models.CharField(max_length=40)
    command = models.TextField()
    command_digest = models.CharField(max_length=64)  # sha256 of the command: the key, whatever its length
    exit_code = models.IntegerField(null=True)
    tests = models.JSONField(null=True)  # {test id: outcome}; None: the run wrote no per-test report
    seconds = models.FloatField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["repository", "base_commit", "command_digest"], name="base_run_once_per_commit_and_command"
            )
        ]
