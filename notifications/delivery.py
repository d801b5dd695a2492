"""Sending a delivery: claimed with a conditional update (one sender, even when a sweep and a job both try), sent
once by e-mail or webhook, then recorded: delivered, waiting for a retry with a doubling delay, or failed."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.utils import timezone

from agents import scheduling
from notifications import webhooks
from notifications.errors import Failed, Refused
from notifications.models import Delivery, Notice, Preference

log = logging.getLogger(__name__)

DELIVER_JOB = "notifications.deliver"
CLAIM_SECONDS = 120  # a sender holds a delivery this long (longer than any attempt); then a sweep takes it back


def deliver(delivery_id: int) -> str | None:
    """Try a due delivery once; returns its status after the attempt, or None when it was not ours to send."""
    now = timezone.now()
    held = now + timedelta(seconds=max(CLAIM_SECONDS, settings.SWARM_WEBHOOK_TIMEOUT * 2))
    claimed = (
        Delivery.objects.filter(pk=delivery_id, due_at__lte=now)
        .filter(status__in=[Delivery.Status.WAITING, Delivery.Status.SENDING])
        .update(status=Delivery.Status.SENDING, due_at=held)
    )
    if claimed != 1:
        return None  # not due yet, sent already, or another sender holds it
    delivery = Delivery.objects.select_related("team", "user", "webhook").get(pk=delivery_id)
    notices = list(delivery.notices.order_by("created_at", "id"))
    attempts = delivery.attempts + 1
    fields: dict = {"attempts": attempts}
    try:
        if delivery.channel == Delivery.Channel.EMAIL:
            _email(delivery, notices)
        else:
            fields["response_code"] = _webhook(delivery, notices)
    except Refused as exc:
        fields.update(status=Delivery.Status.FAILED, last_error=f"url {exc.message}"[:500])
    except Failed as exc:
        fields.update(last_error=exc.message[:500], response_code=exc.code)
        if exc.retry and attempts < settings.SWARM_NOTIFY_TRIES:
            fields.update(status=Delivery.Status.WAITING, due_at=timezone.now() + retry_delay(attempts))
        else:
            fields["status"] = Delivery.Status.FAILED
            if exc.retry:
                fields["last_error"] = f"gave up after {attempts} tries; last: {exc.message}"[:500]
    else:
        fields.update(status=Delivery.Status.DELIVERED, sent_at=timezone.now())  # the last error stays, for the log
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(**fields)
    if fields["status"] == Delivery.Status.WAITING:
        scheduling.submit(DELIVER_JOB, delivery_id, delay=retry_delay(attempts).total_seconds())
    elif fields["status"] == Delivery.Status.FAILED:
        # the team and the webhook's name, never its URL's secret parts or its signing secret
        log.warning("notification delivery %s to %s failed: %s", delivery_id, _who(delivery), fields["last_error"])
    return fields["status"]


def retry_delay(attempts: int) -> timedelta:
    """The wait after the n-th failed attempt: SWARM_NOTIFY_BACKOFF, doubling, at most SWARM_NOTIFY_BACKOFF_MAX."""
    seconds = settings.SWARM_NOTIFY_BACKOFF * 2 ** (attempts - 1)
    return timedelta(seconds=min(seconds, settings.SWARM_NOTIFY_BACKOFF_MAX))


def send_due() -> int:
    """Queue every delivery that is due and nobody holds (a lost job, a process that died while sending); sweeps call
    it. Returns how many."""
    now = timezone.now()
    due = Delivery.objects.filter(Q(status=Delivery.Status.WAITING) | Q(status=Delivery.Status.SENDING)).filter(
        due_at__lte=now
    )
    ids = list(due.values_list("pk", flat=True)[:500])
    for pk in ids:
        scheduling.submit(DELIVER_JOB, pk)
    return len(ids)


def _who(delivery: Delivery) -> str:
    if delivery.channel == Delivery.Channel.WEBHOOK:
        return f"webhook {delivery.recipient!r} of team {delivery.team_id}"
    return f"user {delivery.user_id}"


def _link(notice: Notice) -> str:
    return settings.SWARM_PUBLIC_URL + notice.path


def _email(delivery: Delivery, notices: list[Notice]) -> None:
    user = delivery.user
    preference = Preference.objects.filter(user=user).first()
    if not user.email or (preference is not None and not preference.email):
        raise Failed("the recipient has no e-mail address or turned e-mail off since", retry=False)
    team = delivery.team.name
    if len(notices) == 1:
        subject = f"[Swarm] {notices[0].text}"
    else:
        subject = f"[Swarm] {len(notices)} things in {team} may need you"
    lines = [f"Hello {user.username},", "", f"In {team}:", ""]
    for notice in notices:
        lines += [f"- {notice.text}", f"  {_link(notice)}"]
    lines += ["", f"Choose what you hear of: {settings.SWARM_PUBLIC_URL}/notifications/"]
    try:
        send_mail(subject[:200].replace("\n", " "), "\n".join(lines), None, [user.email])
    except Exception as exc:  # noqa: BLE001  any backend's failure (SMTP, socket): tried again
        raise Failed(f"the mail server refused or failed: {type(exc).__name__}: {exc}"[:300], retry=True) from None


def webhook_body(delivery: Delivery, notices: list[Notice]) -> bytes:
    items = [
        {
            "id": n.pk,
            "kind": n.kind,
            "text": n.text,
            "url": _link(n),
            "created_at": n.created_at.isoformat(),
            **n.data,
        }
        for n in notices
    ]
    body = {
        "delivery": delivery.pk,
        "team": {"id": delivery.team_id, "name": delivery.team.name},
        "count": len(items),
        "notifications": items,
    }
    return json.dumps(body, ensure_ascii=False).encode()


def _webhook(delivery: Delivery, notices: list[Notice]) -> int:
    webhook = delivery.webhook
    if webhook is None:  # deleted after this delivery was claimed (delete_webhook fails the waiting ones)
        raise Failed("the webhook was deleted", retry=False)
    if not webhook.active:
        raise Failed("the webhook was turned off", retry=False)
    return webhooks.post(webhook.url, webhook.secret, webhook_body(delivery, notices), delivery.pk)
