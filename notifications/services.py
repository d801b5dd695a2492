"""Who is told of what: a notice for each thing a person may need to know, then one delivery per recipient that wants
it, gathered into a digest when several come within SWARM_NOTIFY_DIGEST_SECONDS. Sending is delivery.py's job.

And what a person changes (their preferences, a team's webhooks): every write of the app is here, each in one
transaction; the pages only call these."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone

from agents import permissions, scheduling
from agents.errors import InvalidForm
from agents.models import Agent, Event, Membership
from notifications import webhooks
from notifications.delivery import DELIVER_JOB
from notifications.forms import PreferenceForm, WebhookForm
from notifications.models import KIND_ACTION, Delivery, Kind, Notice, Preference, Webhook

log = logging.getLogger(__name__)


def notify(team_id: int, kind: str, text: str, path: str, data: dict | None = None, key: str | None = None):
    """Record a notice and queue it for everyone who wants it; None when `key` was already notified."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                notice = Notice.objects.create(
                    team_id=team_id, kind=kind, text=text[:500], path=path, data=data or {}, key=key
                )
        except IntegrityError:
            return None  # a once-only notice someone else recorded first
        new = [d for d in (_enqueue(notice, **target) for target in recipients(team_id, kind)) if d is not None]
    for delivery in new:
        delay = max(0.0, (delivery.due_at - timezone.now()).total_seconds())
        transaction.on_commit(lambda pk=delivery.pk, delay=delay: scheduling.submit(DELIVER_JOB, pk, delay=delay))
    return notice


def recipients(team_id: int, kind: str) -> list[dict]:
    """The members who act on this kind (their role) and want it by e-mail (their preference), and the team's active
    webhooks that take it."""
    members = (
        Membership.objects.in_team(team_id).select_related("user").filter(user__is_active=True).exclude(user__email="")
    )
    members = [m for m in members if permissions.role_may(m.role, KIND_ACTION[kind])]
    prefs = {p.user_id: p for p in Preference.objects.filter(user__in=[m.user_id for m in members])}
    targets = [
        {"channel": Delivery.Channel.EMAIL, "user": m.user}
        for m in members
        if prefs.get(m.user_id, Preference()).wants(kind)
    ]
    for webhook in Webhook.objects.in_team(team_id).filter(active=True):
        if kind in webhook.kinds:
            targets.append({"channel": Delivery.Channel.WEBHOOK, "webhook": webhook})
    return targets


def _enqueue(notice: Notice, channel: str, user=None, webhook=None) -> Delivery | None:
    """Add the notice to the recipient's waiting, untried delivery (a digest), or start one: due now when nothing was
    sent to them in the digest window, else at its end. Returns a delivery it started."""
    target = {"user": user} if user is not None else {"webhook": webhook}
    # the webhook's row, locked as delete_webhook locks it: deleted first, it gets nothing; deleted after, the delivery
    # made here is kept in the log under its name
    if webhook is not None and not list(Webhook.objects.select_for_update().filter(pk=webhook.pk).values_list("pk")):
        return None
    mine = Delivery.objects.in_team(notice.team_id).filter(channel=channel, **target)
    # locked: a sender claims the row with a conditional update, so the notice joins before or misses it wholly
    waiting = mine.select_for_update().filter(status=Delivery.Status.WAITING, attempts=0).order_by("id").first()
    if waiting is not None:
        waiting.notices.add(notice)
        return None
    now = timezone.now()
    last = mine.order_by("-created_at").values_list("created_at", flat=True).first()
    window = timedelta(seconds=settings.SWARM_NOTIFY_DIGEST_SECONDS)
    delivery = Delivery.objects.create(
        team_id=notice.team_id, channel=channel, due_at=max(now, last + window) if last else now, **target
    )
    delivery.notices.add(notice)
    return delivery


# ---------------------------------------------------------------- what a person changes


def save_preferences(user, form: PreferenceForm) -> Preference:
    """A person's own e-mail address and what they want to hear of by e-mail, saved together."""
    if not form.is_valid():
        raise InvalidForm(form)
    data = form.cleaned_data
    with transaction.atomic():
        user.email = data["email_address"]
        user.save(update_fields=["email"])
        preference, _ = Preference.objects.update_or_create(
            user=user, defaults={"email": data["email"], "kinds": data["kinds"]}
        )
    return preference


def create_webhook(by, team_id: int, form: WebhookForm) -> Webhook:
    """Add a webhook to a team as the form says (team admins only), with a new signing secret that the caller shows
    once. A name another admin took meanwhile is a 409 on the name field, as the form says of a name already taken."""
    try:
        with transaction.atomic():
            permissions.require(by, team_id, "manage_webhooks")
            if not form.is_valid():
                raise InvalidForm(form)
            hook = form.save(commit=False)
            hook.team_id, hook.created_by, hook.kinds = team_id, by, form.cleaned_data["kinds"]
            hook.secret = webhooks.new_secret()
            hook.save()
    except IntegrityError:
        message = f"Your team already has a webhook named “{form.cleaned_data['name']}”."
        form.add_error("name", message)
        raise InvalidForm(form, 409, message) from None
    return hook


def delete_webhook(by, hook: Webhook) -> None:
    """Delete a team's webhook (team admins only): it gets nothing more, and what still waits for it is failed, not
    sent. Its URL and secret are gone; its deliveries stay in the log the team's admins read, under its name."""
    with transaction.atomic():
        permissions.require(by, hook.team_id, "manage_webhooks")
        Webhook.objects.select_for_update().filter(pk=hook.pk).first()  # a notice being queued for it finishes first
        deliveries = Delivery.objects.filter(webhook_id=hook.pk)
        deliveries.filter(status=Delivery.Status.WAITING).update(
            status=Delivery.Status.FAILED, last_error="the webhook was deleted before this was sent"
        )
        deliveries.update(webhook_name=hook.name)
        hook.delete()  # Delivery.webhook is SET_NULL: the rows above stay


# ---------------------------------------------------------------- what the runtime and the judges announce


def _agent_data(agent: Agent) -> dict:
    return {"task": {"id": agent.task_id, "title": agent.task.title}, "agent": {"id": agent.pk, "name": agent.name}}


def on_status(agent_id: int, status: str, reason: str) -> Notice | None:
    """An agent's status changed: a person is told when it needs one, or when its task finished."""
    agent = Agent.objects.select_related("task").filter(pk=agent_id).first()
    if agent is None or agent.status != status:
        return None  # it moved on meanwhile (resumed, granted budget): nobody needs telling now
    task, path = agent.task, reverse("agents:agent_detail", args=[agent_id])
    if status == Agent.Status.PAUSED:
        if agent.needs_budget:
            stop = agent.budget_stop()
            why = f"used up its {stop.kind} budget" if stop.planner_id is None else f"is paused because {stop}"
            text = f"{agent.name} {why} on “{task.title}”: grant more budget, or stop it."
            return notify(task.team_id, Kind.BUDGET, text, path, _agent_data(agent))
        if agent.question:
            text = f"{agent.name} asks on “{task.title}”: {agent.question}"
            return notify(task.team_id, Kind.QUESTION, text, path, _agent_data(agent))
        text = f"{agent.name} is paused on “{task.title}” and needs a person: {reason or 'paused'}."
        return notify(task.team_id, Kind.NEEDS_PERSON, text, path, _agent_data(agent))
    if status == Agent.Status.ERROR:
        text = f"{agent.name} stopped on an error on “{task.title}”: {reason or 'error'}. Resume it or stop it."
        return notify(task.team_id, Kind.NEEDS_PERSON, text, path, _agent_data(agent))
    if status in Agent.FINISHED and not task.agents.exclude(status__in=Agent.FINISHED).exists():
        counts = {s: task.agents.filter(status=s).count() for s in (Agent.Status.ACCEPTED, Agent.Status.STOPPED)}
        text = f"“{task.title}” finished: {counts['accepted']} accepted, {counts['stopped']} stopped."
        data = {"task": {"id": task.pk, "title": task.title}, **counts}
        path = reverse("agents:task_detail", args=[task.pk])
        return notify(task.team_id, Kind.TASK_FINISHED, text, path, data, key=f"task_finished:{task.pk}")
    return None


def escalate_questions() -> int:
    """Questions nobody answered within SWARM_QUESTION_ESCALATE_MINUTES go to the team's admins, once per question
    (the notice's key is the question's event). Returns how many were escalated now."""
    minutes = settings.SWARM_QUESTION_ESCALATE_MINUTES
    if not minutes:
        return 0
    asked = Event.objects.filter(agent_id=OuterRef("pk"), kind=Event.Kind.QUESTION).order_by("-seq")
    waiting = (
        Agent.objects.filter(status=Agent.Status.PAUSED, status_reason__startswith=Agent.QUESTION_PAUSE)
        .annotate(asked_at=Subquery(asked.values("created_at")[:1]), asked_seq=Subquery(asked.values("seq")[:1]))
        .filter(asked_at__lte=timezone.now() - timedelta(minutes=minutes))
        .select_related("task")
    )
    escalated = 0
    for agent in waiting[:200]:
        text = f"Unanswered for {minutes:g} minutes: {agent.name} asks on “{agent.task.title}”: {agent.question}"
        path = reverse("agents:agent_detail", args=[agent.pk])
        key = f"unanswered:{agent.pk}:{agent.asked_seq}"
        escalated += notify(agent.task.team_id, Kind.UNANSWERED, text, path, _agent_data(agent), key=key) is not None
    return escalated


def on_verdict(agent_id: int, verdict_id: int, recommendation: str) -> Notice | None:
    agent = Agent.objects.select_related("task").filter(pk=agent_id).first()
    if agent is None or agent.status != Agent.Status.AWAITING_REVIEW:
        return None
    text = f"{agent.name}'s work on “{agent.task.title}” waits for a review ({recommendation})."
    path = reverse("judges:detail", args=[verdict_id])
    data = {**_agent_data(agent), "verdict": verdict_id}
    return notify(agent.task.team_id, Kind.VERDICT, text, path, data, key=f"verdict:{verdict_id}")
