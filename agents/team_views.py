"""The team page (members, roles, invitations), the navigation's team selector, and joining by invitation link."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents import teams, tokens
from agents.errors import InvalidForm, ServiceError
from agents.models import ApiToken, Invite, Membership
from agents.permissions import grants, owned_or_404
from agents.teams import team_for

MEMBER_PAGE = Membership.objects.select_related("user")


def _page(request, status: int = 200, **extra):
    team = team_for(request, "view")
    members = Membership.objects.in_team(team).select_related("user").order_by("user__username")
    invites = Invite.objects.in_team(team).usable().select_related("created_by")
    context = {
        "team": team,
        "members": members,
        "invites": invites,
        "roles": Membership.Role.choices,
        "can": grants(request.user, team.pk),
        "tokens": tokens.mine(request.user),
        "scopes": ApiToken.Scope.choices,
        **extra,
    }
    return render(request, "agents/team.html", context, status=status)


@login_required
@require_GET
def team_page(request):
    return _page(request)


@login_required
@require_POST
def member_role(request, pk: int):
    membership = owned_or_404(request.user, MEMBER_PAGE, pk, "manage_members")
    try:
        teams.change_role(request.user, membership.team_id, membership.pk, request.POST.get("role", ""))
        messages.success(request, f"{membership.user.username} is now {request.POST.get('role')}.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("agents:team")


@login_required
@require_POST
def member_remove(request, pk: int):
    membership = owned_or_404(request.user, MEMBER_PAGE, pk, "manage_members")
    try:
        teams.remove_member(request.user, membership.team_id, membership.pk)
        messages.success(request, f"{membership.user.username} was removed from the team.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    if membership.user_id == request.user.pk:
        return redirect("agents:task_list")
    return redirect("agents:team")


@login_required
@require_POST
def invite_create(request):
    team = team_for(request, "manage_members")
    try:
        invite, raw = teams.create_invite(request.user, team.pk, request.POST.get("role", ""))
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("agents:team")
    # shown once, on this answer only: the token is stored hashed and never put in the session or a message
    link = request.build_absolute_uri(reverse("agents:invite", args=[raw]))
    return _page(request, status=201, new_link=link, new_invite=invite)


@login_required
@require_POST
def invite_revoke(request, pk: int):
    invite = owned_or_404(request.user, Invite.objects, pk, "manage_members")
    teams.revoke_invite(request.user, invite.team_id, invite.pk)
    messages.success(request, "The invitation link no longer works.")
    return redirect("agents:team")


@login_required
@require_POST
def token_create(request):
    """A named, scoped API token of the signed-in person's; shown on this answer only (stored hashed)."""
    try:
        token, raw = tokens.create_token(request.user, request.POST.get("name", ""), request.POST.get("scope", ""))
    except ServiceError as exc:
        return _page(request, status=exc.status, token_error=exc.message[:1].upper() + exc.message[1:])
    return _page(request, status=201, new_token=raw, new_token_row=token)


@login_required
@require_POST
def token_revoke(request):
    """Revoke one of the signed-in person's own tokens (the id is in the form: a token is a person's, not a team's)."""
    raw = request.POST.get("token", "")
    try:
        token = tokens.revoke_token(request.user, int(raw) if raw.isdigit() and len(raw) < 19 else 0)
        messages.success(request, f"The API token “{token.name}” no longer works.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect(reverse("agents:team") + "#tokens")


@login_required
@require_POST
def team_switch(request):
    try:
        team = teams.choose_team(request, int(request.POST.get("team", "0") or 0))
    except (ValueError, ServiceError):
        messages.error(request, "You are not a member of that team.")
        return redirect("agents:task_list")
    messages.success(request, f"You are working in {team.name}.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("agents:task_list")
    return redirect(target)


@require_http_methods(["GET", "POST"])
def invite_accept(request, token: str):
    """Public on purpose: the one-time link signs in or creates an account, then joins with the invited role."""
    try:
        invite = teams.find_invite(token)
    except ServiceError as exc:
        return render(request, "agents/invite.html", {"error": exc.message}, status=404)
    signed_in = request.user.is_authenticated
    form = UserCreationForm(request.POST if request.method == "POST" and not signed_in else None)
    context = {"invite": invite, "form": form, "login_next": request.path}
    if request.method == "GET":
        return render(request, "agents/invite.html", context)
    try:
        if signed_in:
            teams.accept_invite(token, request.user)
        else:
            membership = teams.accept_invite_as_new_user(token, form)
    except InvalidForm:
        return render(request, "agents/invite.html", context, status=400)  # the form shows its errors in place
    except ServiceError as exc:
        context["error"] = exc.message
        return render(request, "agents/invite.html", context, status=exc.status)
    if not signed_in:
        login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
    teams.choose_team(request, invite.team_id)
    messages.success(request, f"You joined {invite.team.name} as {invite.role}.")
    return redirect("agents:task_list")
