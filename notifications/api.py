"""The JSON endpoints of the notifications pages: a person's own preferences, a team's webhooks (admins; the secret is
in the answer that makes one, never again) and their delivery log. Each handler calls notifications/services.py, as
the pages do; the routes with their shapes are at the end, included by swarm_web/urls.py."""

from __future__ import annotations

from agents.api_base import (
    BOOLEAN,
    INTEGER,
    STRING,
    STRINGS,
    TEAM_REF,
    TIME,
    Operation,
    Route,
    body,
    obj,
    owned,
    team_ref,
)
from agents.api_base import request_team as _request_team
from agents.api_lists import PAGE_QUERY, page_schema, paged
from agents.errors import FieldError
from agents.permissions import require, teams_where
from notifications import services
from notifications.forms import PreferenceForm, WebhookForm
from notifications.models import Delivery, Kind, Preference, Webhook


def _time(value) -> str | None:
    return value.isoformat() if value else None


# ---------------------------------------------------------------- a person's preferences


def preference_json(user) -> dict:
    preference = Preference.objects.filter(user=user).first() or Preference(user=user)
    return {"email_address": user.email, "email": preference.email, "kinds": list(preference.kinds)}


def preferences(request) -> dict:
    return preference_json(request.user)


def preferences_update(request, data: dict) -> dict:
    """The fields sent replace the person's own; the others stay."""
    fields = {**preference_json(request.user), **data}
    form = PreferenceForm({**fields, "email": "on" if fields["email"] else ""})
    services.save_preferences(request.user, form)
    return preference_json(request.user)


# ---------------------------------------------------------------- a team's webhooks and their log


def webhook_json(w: Webhook) -> dict:
    by = w.created_by.username if w.created_by_id else None
    return {
        "id": w.pk,
        "team": w.team_id,
        "name": w.name,
        "url": w.url,
        "kinds": list(w.kinds),
        "active": w.active,
        "created_by": by,
        "created_at": _time(w.created_at),
    }


def _admin_teams(request, team) -> list[int]:
    """The teams whose webhooks the caller reads: the one named (admin there), else every team they are admin of."""
    if team is not None:
        return [_request_team(request, team_ref(team)).pk]
    mine = teams_where(request.user, "manage_webhooks")
    if not mine:
        require(request.user, request.team_ids[0], "manage_webhooks")  # the refusal says which role would do
    return mine


def webhooks_list(request) -> dict:
    teams = _admin_teams(request, request.GET.get("team"))
    rows = Webhook.objects.in_teams(teams).select_related("created_by")
    return paged(request, rows.order_by("team_id", "name", "id"), "webhooks", webhook_json)


def webhook_create(request, data: dict):
    team = _request_team(request, data.get("team"))
    fields = {"name": data["name"], "url": data["url"], "kinds": data.get("kinds", list(Kind.values))}
    if not fields["kinds"]:
        raise FieldError("kinds", "must name at least one kind of notice.")
    hook = services.create_webhook(request.user, team.pk, WebhookForm(fields, team=team))
    # shown once, in this answer only: never again in an answer, a page or a log
    return {**webhook_json(hook), "secret": hook.secret}


def webhook_delete(request, pk: int) -> dict:
    hook = owned(request, Webhook.objects.select_related("created_by"), pk, "webhook")
    services.delete_webhook(request.user, hook)
    return {"id": pk, "name": hook.name, "deleted": True}


def delivery_json(d: Delivery) -> dict:
    return {
        "id": d.pk,
        "team": d.team_id,
        "webhook": d.webhook_id,
        "recipient": d.recipient,
        "status": d.status,
        "attempts": d.attempts,
        "response_code": d.response_code,
        "last_error": d.last_error,
        "notices": [n.text for n in d.notices.all()],
        "created_at": _time(d.created_at),
        "sent_at": _time(d.sent_at),
    }


def deliveries_list(request) -> dict:
    """The webhooks' delivery log, newest first, as the page shows it to the team's admins."""
    teams = _admin_teams(request, request.GET.get("team"))
    rows = Delivery.objects.in_teams(teams).filter(channel=Delivery.Channel.WEBHOOK)
    rows = rows.select_related("webhook").prefetch_related("notices").order_by("-created_at", "-id")
    return paged(request, rows, "deliveries", delivery_json)


# ---------------------------------------------------------------- shapes and routes

KINDS = {"type": "array", "items": {"type": "string", "enum": Kind.values}, "maxItems": len(Kind.values)}
PREFERENCES = obj(
    "NotificationPreferences",
    email_address={"type": "string", "description": "where Swarm writes to you; empty: no e-mail"},
    email={**BOOLEAN, "description": "send me e-mail"},
    kinds={**KINDS, "description": "what to tell me of"},
)
WEBHOOK = obj(
    "Webhook",
    id=INTEGER,
    team=INTEGER,
    name=STRING,
    url=STRING,
    kinds=STRINGS,
    active=BOOLEAN,
    created_by={"type": ["string", "null"]},
    created_at=STRING,
)
NEW_WEBHOOK = body(
    ["name", "url"],
    team=TEAM_REF,
    name={"type": "string", "maxLength": 100, "minLength": 1},
    url={"type": "string", "maxLength": 300, "minLength": 1, "description": "http(s) on a host the operator allows"},
    kinds={**KINDS, "description": "what it is sent; absent: every kind"},
)
ISSUED_WEBHOOK = obj(
    "IssuedWebhook",
    **WEBHOOK["properties"],
    secret={"type": "string", "description": "the signing secret: in this answer only, never shown again"},
)
DELIVERY = obj(
    "WebhookDelivery",
    id=INTEGER,
    team=INTEGER,
    webhook={"type": ["integer", "null"], "description": "null once the webhook was deleted"},
    recipient=STRING,
    status={"type": "string", "enum": Delivery.Status.values},
    attempts=INTEGER,
    response_code={"type": ["integer", "null"]},
    last_error=STRING,
    notices=STRINGS,
    created_at=STRING,
    sent_at=TIME,
)
TEAM_QUERY = {"team": {"type": "string", "description": "team name or id; absent: every team you are admin of"}}

ROUTES = [
    Route(
        "notifications/preferences",
        "api_notify_preferences",
        get=Operation(preferences, "What you want to hear of, and whether by e-mail", PREFERENCES, auth="token"),
        patch=Operation(
            preferences_update,
            "Change your notification preferences: the fields sent replace yours",
            PREFERENCES,
            body=body(
                [],
                email_address={"type": "string", "maxLength": 254},
                email=BOOLEAN,
                kinds=PREFERENCES["properties"]["kinds"],
            ),
            auth="token",
        ),
    ),
    Route(
        "webhooks",
        "api_webhooks",
        get=Operation(
            webhooks_list,
            "Your teams' webhooks (team admins; never their secrets)",
            page_schema("webhooks", WEBHOOK),
            query={**PAGE_QUERY, **TEAM_QUERY},
            action="manage_webhooks",
        ),
        post=Operation(
            webhook_create,
            "Add a webhook: the team's notices, signed with a new secret that this answer holds, once",
            ISSUED_WEBHOOK,
            status=201,
            body=NEW_WEBHOOK,
            errors=(409,),
            action="manage_webhooks",
        ),
    ),
    Route(
        "webhooks/<int:pk>",
        "api_webhook",
        delete=Operation(
            webhook_delete,
            "Delete a webhook: it gets nothing more; its deliveries stay in the log",
            obj(id=INTEGER, name=STRING, deleted=BOOLEAN),
            action="manage_webhooks",
        ),
    ),
    Route(
        "webhooks/deliveries",
        "api_webhook_deliveries",
        get=Operation(
            deliveries_list,
            "The webhooks' delivery log, newest first (team admins)",
            page_schema("deliveries", DELIVERY),
            query={**PAGE_QUERY, **TEAM_QUERY},
            action="manage_webhooks",
        ),
    ),
]
urlpatterns = [route.urlpattern() for route in ROUTES]
