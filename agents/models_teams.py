"""Teams and access to them: teams, memberships and their roles, invites, API tokens, and team scoping."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


class TeamQuerySet(models.QuerySet):
    """Team scoping in one place: each model names the path to its team in `TEAM_PATH`."""

    def for_user(self, user) -> TeamQuerySet:
        """Objects of every team the user belongs to (none for an anonymous visitor)."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        teams = Membership.objects.filter(user=user).values("team_id")
        return self.filter(**{f"{self.model.TEAM_PATH}_id__in": teams})

    def in_team(self, team) -> TeamQuerySet:
        return self.filter(**{self.model.TEAM_PATH: team})

    def in_teams(self, teams) -> TeamQuerySet:
        """Objects of any of these teams (ids or rows), in one lookup."""
        return self.filter(**{f"{self.model.TEAM_PATH}__in": teams})


def team_id_of(obj) -> int:
    """The team id of any team-scoped object, following its model's `TEAM_PATH`."""
    *hops, last = type(obj).TEAM_PATH.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
    return getattr(obj, f"{last}_id")


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's one role in one team; what each role may do is agents/permissions.py's table."""

    class Role(models.TextChoices):
        VIEWER = "viewer", "viewer"
        OPERATOR = "operator", "operator"
        REVIEWER = "reviewer", "reviewer"
        ADMIN = "admin", "admin"

    TEAM_PATH = "team"
    objects = TeamQuerySet.as_manager()

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")]
        ordering = ["id"]


class InviteQuerySet(TeamQuerySet):
    def usable(self) -> InviteQuerySet:
        """The invitations still open: never used, not expired (a revoked one expired when it was revoked)."""
        return self.filter(used_at=None, expires_at__gt=timezone.now())


class Invite(models.Model):
    """A one-time link to join a team with a role; only the token's SHA-256 is stored."""

    TEAM_PATH = "team"
    objects = InviteQuerySet.as_manager()

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invites")
    role = models.CharField(max_length=20, choices=Membership.Role.choices)
    digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]


class ApiToken(models.Model):
    """A named bearer token for the JSON API, with a scope that bounds what it may do on top of its user's roles
    (agents/token_scopes.py); only its SHA-256 is stored, the raw token is shown once."""

    class Scope(models.TextChoices):
        READ = "read", "read"
        OPERATE = "operate", "operate"
        REVIEW = "review", "review"
        ADMIN = "admin", "admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100, blank=True, default="")
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.ADMIN)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(cls, user, name: str = "", scope: str = Scope.ADMIN) -> str:
        return cls.create(user, name, scope)[1]

    @classmethod
    def create(cls, user, name: str = "", scope: str = Scope.ADMIN) -> tuple[ApiToken, str]:
        """The new token's row and its raw value (the caller shows it once; it is not kept)."""
        raw = "swm_" + secrets.token_urlsafe(32)
        return cls.objects.create(user=user, digest=cls.hash(raw), name=name, scope=scope), raw
