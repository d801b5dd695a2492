"""Telling people: what happened (notices), who wants to hear of what (preferences, webhooks), and each message sent
or to be sent with its attempts (deliveries: the log a team admin reads)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from agents.models import Team, TeamQuerySet


class Kind(models.TextChoices):
    NEEDS_PERSON = "needs_person", "an agent needs a person (paused by a loop, or an error)"
    QUESTION = "question", "an agent asks its supervisors a question"
    UNANSWERED = "unanswered", "a question is still unanswered (escalated to admins)"
    BUDGET = "budget", "an agent used up its budget"
    VERDICT = "verdict", "a verdict waits for a review"
    TASK_FINISHED = "task_finished", "a task finished (every agent accepted or stopped)"


# Who is told of each kind: the members whose role may act on it (agents/permissions.py's actions).
KIND_ACTION = {
    Kind.NEEDS_PERSON: "control",
    Kind.QUESTION: "message",  # whoever may answer it
    Kind.UNANSWERED: "manage_members",  # escalation: the team's admins, who can find someone to answer
    Kind.BUDGET: "control",
    Kind.VERDICT: "review",
    Kind.TASK_FINISHED: "view",
}


def all_kinds() -> list[str]:
    return list(Kind.values)


class Notice(models.Model):
    """One thing that happened that a person may want to hear of; sent in the deliveries that list it."""

    TEAM_PATH = "team"
    objects = TeamQuerySet.as_manager()

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    text = models.CharField(max_length=500)  # one sentence for a person; built from escaped-on-render data
    path = models.CharField(max_length=300)  # the page to open, made absolute with SWARM_PUBLIC_URL when sent
    data = models.JSONField(default=dict)  # {"task": {"id", "title"}, "agent": {"id", "name"}, "verdict": id}
    key = models.CharField(max_length=100, null=True, blank=True, unique=True)  # once-only notices: task_finished:12
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text


class Preference(models.Model):
    """What one person wants to hear of, and whether by e-mail. No row: every kind their role acts on, by e-mail."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify_preference")
    kinds = models.JSONField(default=all_kinds)
    email = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def wants(self, kind: str) -> bool:
        return self.email and kind in self.kinds


class Webhook(models.Model):
    """A team's URL that gets its notices as signed JSON. The secret is shown once, when it is made."""

    TEAM_PATH = "team"
    objects = TeamQuerySet.as_manager()

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="webhooks")
    name = models.CharField(max_length=100)
    url = models.CharField(max_length=300)
    secret = models.CharField(max_length=100)  # never shown again, never logged, never in an answer
    kinds = models.JSONField(default=all_kinds)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="webhook_name_unique_in_team")]

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    """One message to one recipient (a member's e-mail or a webhook) listing one or more notices, with its attempts.

    While it waits and has not been tried, notices for the same recipient join it: a digest rather than a flood."""

    TEAM_PATH = "team"
    objects = TeamQuerySet.as_manager()

    class Channel(models.TextChoices):
        EMAIL = "email", "e-mail"
        WEBHOOK = "webhook", "webhook"

    class Status(models.TextChoices):
        WAITING = "waiting", "waiting"  # due at due_at (the digest window, or the next retry)
        SENDING = "sending", "sending"  # claimed until due_at; a sweep takes it back after that
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed"  # given up: refused, or out of tries

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    # a deleted webhook's deliveries stay in the log its team's admins read, under the name it had (kept at deletion)
    webhook = models.ForeignKey(Webhook, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    webhook_name = models.CharField(max_length=100, blank=True, default="")
    notices = models.ManyToManyField(Notice, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    attempts = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=500, blank=True, default="")
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "due_at"], name="delivery_due")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(channel="email", user__isnull=False, webhook__isnull=True)
                | models.Q(channel="webhook", user__isnull=True, webhook__isnull=False)
                | (models.Q(channel="webhook", user__isnull=True, webhook__isnull=True) & ~models.Q(webhook_name="")),
                name="delivery_has_one_recipient",
            )
        ]

    @property
    def recipient(self) -> str:
        if self.channel == self.Channel.EMAIL:
            return self.user.email
        return self.webhook.name if self.webhook_id else f"{self.webhook_name} (deleted)"
