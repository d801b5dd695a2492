"""Pages: a person's notification preferences; a team admin's webhooks and their delivery log."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from agents.errors import InvalidForm
from agents.permissions import Forbidden, can, owned_or_404
from agents.teams import current_team_id, team_for
from notifications import services
from notifications.forms import PreferenceForm, WebhookForm
from notifications.models import Delivery, Preference, Webhook

LOG_ROWS = 50


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    preference = Preference.objects.filter(user=request.user).first() or Preference(user=request.user)
    initial = {"email_address": request.user.email, "email": preference.email, "kinds": preference.kinds}
    form = PreferenceForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST":
        try:
            services.save_preferences(request.user, form)
        except InvalidForm:
            pass  # the form shows its errors in place
        else:
            messages.success(request, "Notification preferences saved.")
            return redirect("notifications:preferences")
    sent = Delivery.objects.filter(user=request.user).prefetch_related("notices")[:10]
    team_id = current_team_id(request)
    admin = team_id is not None and can(request.user, team_id, "manage_webhooks")
    return render(
        request,
        "notifications/preferences.html",
        {"form": form, "sent": sent, "can_manage_webhooks": admin},
        status=400 if form.errors else 200,
    )


def _webhooks_page(request, team, form, status: int = 200, **extra):
    hooks = Webhook.objects.in_team(team).select_related("created_by")
    log = Delivery.objects.in_team(team).filter(channel=Delivery.Channel.WEBHOOK).select_related("webhook")
    log = log.prefetch_related("notices")[:LOG_ROWS]
    context = {"team": team, "webhooks": hooks, "form": form, "log": log, **extra}
    return render(request, "notifications/webhooks.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def webhook_list(request):
    team = team_for(request, "manage_webhooks")
    form = WebhookForm(request.POST if request.method == "POST" else None, team=team)
    if request.method != "POST":
        return _webhooks_page(request, team, form)
    try:
        hook = services.create_webhook(request.user, team.pk, form)
    except InvalidForm as invalid:
        return _webhooks_page(request, team, invalid.form, status=invalid.status)
    # shown once, on this answer only: never again on a page, in a message, the session or a log
    return _webhooks_page(request, team, WebhookForm(team=team), status=201, new_webhook=hook, secret=hook.secret)


@login_required
@require_POST
def webhook_delete(request, pk: int):
    hook = owned_or_404(request.user, Webhook.objects, pk, "manage_webhooks")
    try:
        services.delete_webhook(request.user, hook)
    except Forbidden as refused:
        raise PermissionDenied(refused.message) from None
    messages.success(request, f"Webhook “{hook.name}” deleted; it gets nothing more. Its deliveries stay in the log.")
    return redirect("notifications:webhooks")
