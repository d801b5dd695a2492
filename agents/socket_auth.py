"""Websockets opened with an API token (`Authorization: Bearer <token>` on the handshake): the `swarm` command's.

A browser's sockets come with its session cookie, which it sends to this site whatever page opened the socket, so
those open only from this site's own Origin (swarm_web.middleware.ExactOriginValidator). A bearer token is never
sent on its own: a page's WebSocket cannot even set the header. So a token socket needs no Origin (a command line
sends none), and the session cookie that may come with it counts for nothing: the socket is the token's.

The token is checked as the API checks it (agents.api_base.authenticate: its SHA-256 looked up, so a revoked token
is not found; its user active; a wrong token counted by django-axes against the caller's address, which a lockout
then refuses). A refused token gets the handshake refused (HTTP 403). The socket is the token's user's, with the
token's scope on the user (`token_scope`, `token_id`) as on an API request: the consumers read it, and answer a
token socket with the API's JSON instead of the page's fragments.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.http import HttpRequest

from agents.api_base import authenticate
from agents.errors import ServiceError


def bearer(scope) -> bool:
    """Whether the handshake carries a bearer token (right or wrong: the token decides, not the cookie)."""
    for name, value in scope.get("headers") or []:
        if name.lower() == b"authorization":
            return value.decode("latin-1").strip().lower().startswith("bearer ")
    return False


def handshake_request(scope) -> HttpRequest:
    """The handshake as the HttpRequest the API's token check and django-axes read (headers, path, address)."""
    request = HttpRequest()
    request.method = "GET"
    request.path = request.path_info = scope.get("path", "")
    client = scope.get("client") or ("", 0)
    request.META = {"REMOTE_ADDR": client[0] or "", "PATH_INFO": request.path, "QUERY_STRING": ""}
    for name, value in scope.get("headers") or []:
        key = name.decode("latin-1").upper().replace("-", "_")
        if key not in {"CONTENT_TYPE", "CONTENT_LENGTH"}:
            key = f"HTTP_{key}"
        request.META.setdefault(key, value.decode("latin-1"))
    return request


@database_sync_to_async
def token_user(scope):
    """The token's user (with `token_scope` and `token_id`), or None when the API would refuse the token."""
    try:
        return authenticate(handshake_request(scope))
    except ServiceError:
        return None


class TokenSockets:
    """ASGI, for websockets: a handshake with a bearer token goes to `app` as the token's user, or is refused; any
    other goes to `otherwise` (the Origin check and the session)."""

    def __init__(self, app, otherwise):
        self.app, self.otherwise = app, otherwise

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket" or not bearer(scope):
            return await self.otherwise(scope, receive, send)
        user = await token_user(scope)
        if user is None:
            return await WebsocketDenier()(scope, receive, send)
        return await self.app({**scope, "user": user}, receive, send)
