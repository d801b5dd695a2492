"""Teams and their members: the current team of a session, roles, removal, and one-time invitation links.

Every change is a service: it locks the team's row so two admins acting at once cannot leave it without an admin,
and it tells the removed member's open sockets to close once the change is committed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents import events
from agents.errors import InvalidForm, ServiceError
from agents.models import Invite, Membership, Team
from agents.permissions import require, require_page

SESSION_KEY = "swarm_team_id"
NO_TEAM = "You are not a member of any team; ask a team admin for an invitation link."


# ---------------------------------------------------------------- the current team


def memberships(user) -> list[Membership]:
    if not getattr(user, "is_authenticated", False):
        return []
    return list(Membership.objects.filter(user=user).select_related("team").order_by("team__name", "id"))


def current_membership(request) -> Membership | None:
    """The membership of the team chosen in the navigation (kept in the session); the first team otherwise."""
    cached = getattr(request, "_swarm_membership", False)
    if cached is not False:
        return cached
    mine = memberships(request.user)
    chosen = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    membership = next((m for m in mine if m.team_id == chosen), mine[0] if mine else None)
    request._swarm_membership = membership
    return membership


def current_team_id(request) -> int | None:
    """The team the lists show: the one chosen in the navigation (None when the user is in no team)."""
    membership = current_membership(request)
    return membership.team_id if membership else None


def team_for(request, action: str) -> Team:
    """For pages: the current team, if the user's role there allows the action (Django's 403 otherwise)."""
    membership = current_membership(request)
    if membership is None:
        raise PermissionDenied(NO_TEAM)
    require_page(request.user, membership.team_id, action)
    return membership.team


def choose_team(request, team_id: int) -> Team:
    membership = Membership.objects.in_team(team_id).filter(user=request.user).select_related("team").first()
    if membership is None:
        raise ServiceError("You are not a member of that team.", 404)
    request.session[SESSION_KEY] = membership.team_id
    request._swarm_membership = membership
    return membership.team


# ---------------------------------------------------------------- members


def _lock_team(team_id: int) -> Team:
    """Serialise membership changes of one team (two admins demoting each other at once)."""
    return Team.objects.select_for_update().get(pk=team_id)


def _admins_left(team_id: int, without: Membership) -> int:
    return Membership.objects.in_team(team_id).filter(role=Membership.Role.ADMIN).exclude(pk=without.pk).count()


def _member(team_id: int, membership_id: int) -> Membership:
    membership = Membership.objects.in_team(team_id).filter(pk=membership_id).select_related("user").first()
    if membership is None:
        raise ServiceError("There is no such member in this team.", 404)
    return membership


def change_role(by, team_id: int, membership_id: int, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise ServiceError(f"Unknown role “{role}”; choose one of: {', '.join(Membership.Role.values)}.")
    with transaction.atomic():
        _lock_team(team_id)
        require(by, team_id, "manage_members")
        membership = _member(team_id, membership_id)
        if membership.role == Membership.Role.ADMIN and role != Membership.Role.ADMIN:
            if not _admins_left(team_id, membership):
                raise ServiceError("A team keeps at least one admin: make someone else admin first.", 409)
        Membership.objects.filter(pk=membership.pk).update(role=role)
        membership.role = role
        user_id = membership.user_id
        transaction.on_commit(lambda: events.role_changed(team_id, user_id))
    return membership


def remove_member(by, team_id: int, membership_id: int) -> Membership:
    with transaction.atomic():
        _lock_team(team_id)
        require(by, team_id, "manage_members")
        membership = _member(team_id, membership_id)
        if membership.role == Membership.Role.ADMIN and not _admins_left(team_id, membership):
            raise ServiceError(
                "A team keeps at least one admin: make someone else admin before removing this one.", 409
            )
        membership.delete()
        user_id = membership.user_id
        transaction.on_commit(lambda: events.revoke_watchers(team_id, user_id))
    return membership


# ---------------------------------------------------------------- invitations


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_invite(by, team_id: int, role: str) -> tuple[Invite, str]:
    """A one-time invitation; returns it with the raw token, which is shown once and never stored."""
    if role not in Membership.Role.values:
        raise ServiceError(f"Unknown role “{role}”; choose one of: {', '.join(Membership.Role.values)}.")
    require(by, team_id, "manage_members")
    raw = secrets.token_urlsafe(32)
    days = settings.SWARM_INVITE_DAYS
    invite = Invite.objects.create(
        team_id=team_id, role=role, digest=_digest(raw), created_by=by, expires_at=timezone.now() + timedelta(days=days)
    )
    return invite, raw


def revoke_invite(by, team_id: int, invite_id: int) -> None:
    require(by, team_id, "manage_members")
    Invite.objects.in_team(team_id).filter(pk=invite_id, used_at=None).update(expires_at=timezone.now())


INVALID_INVITE = "This invitation link is not valid: it was used already, it expired, or it was revoked."


def find_invite(raw: str) -> Invite:
    invite = Invite.objects.usable().filter(digest=_digest(raw or "")).select_related("team").first()
    if invite is None:
        raise ServiceError(INVALID_INVITE, 404)
    return invite


def accept_invite(raw: str, user) -> Membership:
    """Join the invitation's team with its role; the link works once (a conditional update claims it)."""
    invite = find_invite(raw)
    if Membership.objects.in_team(invite.team_id).filter(user=user).exists():
        raise ServiceError(f"You are already a member of {invite.team.name}; the link is left for someone else.", 409)
    with transaction.atomic():
        claimed = Invite.objects.filter(pk=invite.pk, used_at=None, expires_at__gt=timezone.now()).update(
            used_at=timezone.now(), used_by=user
        )
        if claimed != 1:
            raise ServiceError(INVALID_INVITE, 404)
        try:
            with transaction.atomic():
                membership = Membership.objects.create(team_id=invite.team_id, user=user, role=invite.role)
        except IntegrityError:
            raise ServiceError(f"You are already a member of {invite.team.name}.", 409) from None
    return membership


def accept_invite_as_new_user(raw: str, form) -> Membership:
    """Create the account the sign-up form (Django's UserCreationForm) describes and join with the invitation, in
    one transaction: a link that turns out to be used, expired or revoked leaves no account behind."""
    if not form.is_valid():
        raise InvalidForm(form)
    with transaction.atomic():
        return accept_invite(raw, form.save())
