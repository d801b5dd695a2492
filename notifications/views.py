"""Pages: a person's notification preferences; a team admin's webhooks and their delivery log."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from agents.permissions import can, owned_or_404
from agents.teams import current_team_id, team_for
from notifications import webhooks
from notifications.forms import PreferenceForm, WebhookForm
from notifications.models import Delivery, Preference, Webhook

LOG_ROWS = 50


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    preference = Preference.objects.filter(user=request.user).first() or Preference(user=request.user)
    initial = {"email_address": request.user.email, "email": preference.email, "kinds": preference.kinds}
    form = PreferenceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            request.user.email = form.cleaned_data["email_address"]
            request.user.save(update_fields=["email"])
            preference.email = form.cleaned_data["email"]
            preference.kinds = form.cleaned_data["kinds"]
            preference.save()
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
    form = WebhookForm(request.POST or None, team=team)
    if request.method != "POST":
        return _webhooks_page(request, team, form)
    if not form.is_valid():
        return _webhooks_page(request, team, form, status=400)
    hook = form.save(commit=False)
    hook.team, hook.created_by, hook.kinds = team, request.user, form.cleaned_data["kinds"]
    hook.secret = webhooks.new_secret()
    hook.save()
    # shown once, on this answer only: never again on a page, in a message, the session or a log
    return _webhooks_page(request, team, WebhookForm(team=team), status=201, new_webhook=hook, secret=hook.secret)


@login_required
@require_POST
def webhook_delete(request, pk: int):
    hook = owned_or_404(request.user, Webhook.objects, pk, "manage_webhooks")
    hook.delete()
    messages.success(request, f"Webhook “{hook.name}” deleted; it gets nothing more.")
    return redirect("notifications:webhooks")
