"""What happened to an agent (events, gapless per agent: what sockets replay) and what people and agents sent it
(messages)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

# Kinds of events other apps declare (judges: verification, verdicts, merges), each value with the app whose
# templates render it. Filled from those apps' AppConfig.ready(), so agents never imports them.
_other_event_kinds: dict[str, tuple[str, str]] = {}  # value -> (label, app label)


def register_event_kinds(app_label: str, kinds: type[models.TextChoices]) -> None:
    """Declare another app's kinds of events; each is rendered by `templates/<app_label>/events/<kind>.html`."""
    for value, label in kinds.choices:
        if value in Event.Kind.values or _other_event_kinds.get(value, (label, app_label))[1] != app_label:
            raise ValueError(f"event kind {value!r} is declared twice")
    _other_event_kinds.update((value, (label, app_label)) for value, label in kinds.choices)


def event_kinds() -> list[tuple[str, str]]:
    """Every declared kind: the agents app's own (Event.Kind), then those other apps registered."""
    return [*Event.Kind.choices, *((value, label) for value, (label, _) in _other_event_kinds.items())]


class Event(models.Model):
    """One thing that happened to an agent; (agent, seq) is gapless and is what sockets replay."""

    class Kind(models.TextChoices):
        MODEL_TURN = "model_turn"
        TOOL_CALL = "tool_call"
        STATUS = "status"
        MESSAGE = "message"
        MESSAGE_DELIVERED = "message_delivered"
        MESSAGE_ANSWERED = "message_answered"
        NUDGE = "nudge"
        LOOP = "loop"
        RETRY = "retry"
        STEERED = "steered"
        INTERRUPTED = "interrupted"
        COMPACTION = "compaction"
        BUDGET_GRANTED = "budget_granted"
        CLEANUP = "cleanup"
        QUESTION = "question"
        SKILL_LOADED = "skill_loaded"

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    # a callable: the judges' kinds join at start-up without a migration here for each of them
    kind = models.CharField(max_length=30, choices=event_kinds)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["agent_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["agent", "seq"], name="event_seq_unique_per_agent")]
        # an agent's latest event of one kind (when it started waiting) and its kinds over time (the charts)
        indexes = [models.Index(fields=["agent", "kind", "seq"], name="event_agent_kind_seq")]

    @property
    def template_name(self) -> str:
        """The partial that renders this kind (`<app>/events/<kind>.html`); a generic one for an undeclared kind."""
        if self.kind in Event.Kind.values:
            return f"agents/events/{self.kind}.html"
        if self.kind in _other_event_kinds:
            return f"{_other_event_kinds[self.kind][1]}/events/{self.kind}.html"
        return "agents/events/_generic.html"


class Message(models.Model):
    """A message injected into an agent's context, by a person or by another agent."""

    class State(models.TextChoices):
        QUEUED = "queued"
        DELIVERED = "delivered"
        ANSWERED = "answered"

    class Mode(models.TextChoices):
        QUEUE = "queue"
        STEER = "steer"
        INTERRUPT = "interrupt"

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    sender_agent = models.ForeignKey("agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.QUEUE)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    client_msg_id = models.CharField(max_length=64, null=True, blank=True)  # the sender's id: unique per agent
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        # per agent, not global: another team's ids can neither collide with nor reveal this team's
        constraints = [
            models.UniqueConstraint(fields=["agent", "client_msg_id"], name="client_msg_id_unique_per_agent")
        ]

    @property
    def sender_label(self) -> str:
        if self.sender_agent_id:
            return self.sender_agent.name
        if self.author_id:
            return self.author.username
        return "Swarm"
