"""The API's own tokens: list yours, make one (named and scoped; the raw token is in that answer only), revoke one.

The rules are agents/tokens.py's, shared with the team page.
"""

from __future__ import annotations

from agents import tokens
from agents.api_lists import paged
from agents.models import ApiToken


def token_json(t: ApiToken) -> dict:
    return {"id": t.pk, "name": t.name, "scope": t.scope, "created_at": t.created_at.isoformat()}


def tokens_list(request) -> dict:
    return paged(request, tokens.mine(request.user), "tokens", token_json)


def tokens_create(request, data: dict):
    token, raw = tokens.create_token(request.user, data["name"], data["scope"])
    return {**token_json(token), "token": raw}


def token_revoke(request, pk: int) -> dict:
    token = tokens.revoke_token(request.user, pk)
    return {"id": pk, "name": token.name, "revoked": True}
