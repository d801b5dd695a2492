"""A person's API tokens: named, scoped, listed and revoked from the team page and from the API.

A token belongs to its user, never to a team: its scope (read, operate, review, admin; agents/permissions.py's
SCOPES) narrows what the user's roles allow, and never widens it. Only the SHA-256 is stored; the raw token is in
the answer that makes it, once.
"""

from __future__ import annotations

from django.db import transaction

from agents import events
from agents.errors import FieldError, ServiceError
from agents.models import ApiToken

MAX_TOKENS = 50  # per person: a token per pipeline, not one per request


def mine(user):
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def create_token(user, name: str, scope: str) -> tuple[ApiToken, str]:
    """A new token of the user's; returns it with the raw value, which is not kept."""
    name = (name or "").strip()
    if not name:
        raise FieldError("name", "is needed: say what the token is for (e.g. “nightly CI”).")
    if len(name) > 100:
        raise FieldError("name", "is longer than 100 characters.")
    if scope not in ApiToken.Scope.values:
        raise FieldError("scope", f"must be one of: {', '.join(ApiToken.Scope.values)}.")
    with transaction.atomic():
        tokens = mine(user).select_for_update()
        names = set(tokens.values_list("name", flat=True))
        if name in names:
            raise FieldError("name", "is already the name of one of your tokens; choose another.")
        if len(names) >= MAX_TOKENS:
            raise ServiceError(f"You have {MAX_TOKENS} tokens already; revoke one you no longer use first.", 409)
        return ApiToken.create(user, name, scope)


def revoke_token(user, token_id: int) -> ApiToken:
    """Revoke one of the user's tokens: it stops working at once (404 for anyone else's, like a missing one)."""
    token = mine(user).filter(pk=token_id).first()
    if token is None:
        raise ServiceError(f"You have no API token {token_id}.", 404)
    pk = token.pk
    token.delete()
    transaction.on_commit(lambda: events.revoke_token_sockets(pk))  # its open sockets close too
    return token
