"""Who may do what in a team: one table, one check, used by every view, API route, socket and template.

A membership has one role. Viewers see everything of their team and change nothing; operators run the work;
reviewers decide on it; admins do all of that and manage the team itself. Objects of a team the user is not in
are never found (404, see `TeamQuerySet.for_user`); an action the user's role does not allow is a 403 that says
which role it needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from agents.errors import ServiceError
from agents.models import Membership, team_id_of

Role = Membership.Role
EVERYONE = frozenset(Role.values)
OPERATORS = frozenset({Role.OPERATOR, Role.ADMIN})
REVIEWERS = frozenset({Role.REVIEWER, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})

# action: (the roles that may do it, what it is in a sentence "Your role ... may not <what>")
ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "view": (EVERYONE, "see this team's work"),
    "edit_task": (OPERATORS, "write, change or delete tasks"),
    "launch": (OPERATORS, "launch tasks"),
    "message": (OPERATORS, "message agents"),
    "control": (OPERATORS, "resume, stop, grant budget to or clean up agents"),
    "edit_taste": (OPERATORS, "write or delete taste guides and skills"),
    "export": (OPERATORS | REVIEWERS, "export patches"),
    "review": (REVIEWERS, "approve, reject or comment on work"),
    "set_policy": (ADMINS, "choose the judge panel or the auto-approve policy"),
    "manage_repos": (ADMINS, "add repositories"),
    "manage_models": (ADMINS, "add model profiles"),
    "manage_members": (ADMINS, "invite, remove or change the role of members"),
    "manage_webhooks": (ADMINS, "see or change the team's webhooks and their delivery log"),
}


# What an API token's scope lets it do, on top of (never beyond) what its user's role allows. A session (the pages)
# has no scope; a token of scope read may only read, whatever its user's role.
SCOPES: dict[str, frozenset[str]] = {
    "read": frozenset({"view"}),
    "operate": frozenset({"view", "edit_task", "launch", "message", "control", "edit_taste", "export"}),
    "review": frozenset({"view", "review", "export"}),
    "admin": frozenset(ACTIONS),
}


def scope_refusal(user, action: str) -> str:
    """Why the API token the user came with may not do the action ("" when it may, or when there is no token)."""
    scope = getattr(user, "token_scope", None)
    if scope is None or action in SCOPES[scope]:
        return ""
    needed = " or ".join(s for s in SCOPES if action in SCOPES[s])
    return f"This API token's scope is {scope}, which may not {ACTIONS[action][1]}; use a token of scope {needed}."


class Forbidden(ServiceError):
    """A member's role does not allow the action: 403, with the roles that would."""

    def __init__(self, message: str):
        super().__init__(message, 403)


def role_may(role: str | None, action: str) -> bool:
    roles, _ = ACTIONS[action]  # an unknown action is a programming error, never a silent yes
    return role in roles


def role_of(user, team_id: int) -> str | None:
    """The user's role in the team, or None when they are not a member."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.in_team(team_id).filter(user=user).values_list("role", flat=True).first()


def can(user, team_id: int, action: str) -> bool:
    return role_may(role_of(user, team_id), action)


def require(user, team_id: int, action: str) -> str:
    """Refuse with a 403 unless the user's role in the team allows the action, and their API token's scope when
    they came with one; returns the role."""
    refusal = scope_refusal(user, action)
    if refusal:
        raise Forbidden(refusal)
    role = role_of(user, team_id)
    if not role_may(role, action):
        roles, what = ACTIONS[action]
        needed = " or ".join(sorted(roles, key=Role.values.index))
        who = f"Your role in this team is {role}" if role else "You are not a member of this team"
        raise Forbidden(f"{who}; only {needed} may {what}.")
    return role


@dataclass(frozen=True)
class Grants:
    """What one role may do, for templates: `{% if can.launch %}`. Built from the same table as `require`."""

    role: str | None
    scope: str | None = None  # the API token's, when the user came with one: it narrows the role

    def __getattr__(self, action: str) -> bool:
        if action.startswith("_") or action not in ACTIONS:
            raise AttributeError(action)
        return role_may(self.role, action) and (self.scope is None or action in SCOPES[self.scope])


def grants(user, team_id: int) -> Grants:
    return Grants(role_of(user, team_id), getattr(user, "token_scope", None))


def teams_where(user, action: str) -> list[int]:
    """The ids of the user's teams where their role allows the action, in one query (`can` asks one team)."""
    if not getattr(user, "is_authenticated", False):
        return []
    roles, _ = ACTIONS[action]
    return list(Membership.objects.filter(user=user, role__in=roles).values_list("team_id", flat=True))


def team_ids(user) -> list[int]:
    if not getattr(user, "is_authenticated", False):
        return []
    return list(Membership.objects.filter(user=user).values_list("team_id", flat=True))


def require_page(user, team_id: int, action: str) -> str:
    """`require` for pages: the refusal becomes Django's 403, rendered with its message."""
    try:
        return require(user, team_id, action)
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None


def owned_or_404(user, queryset, pk: int, action: str = "view"):
    """For pages: the object of `queryset` (unscoped; select_related as the page needs) if it belongs to one of the
    user's teams (404 otherwise: no hint that it exists), and if the user's role there allows the action (403
    otherwise, saying which role would). The team is found through the model's `TEAM_PATH`."""
    obj = get_object_or_404(queryset.for_user(user), pk=pk)
    require_page(user, team_id_of(obj), action)
    return obj
