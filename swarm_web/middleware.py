"""What every client meets before Django: a body-size limit, exact websocket origins and a static handler that 404s.

The body limit is enforced twice. daphne (Twisted) reads a whole request body into a buffer before the ASGI
application is called, so an ASGI middleware alone would only see a huge body after it was read: `BoundedWebRequest`
refuses it while the headers or the first bytes over the limit arrive. `BodyLimit` does the same for any other ASGI
server (and for a body that arrives in pieces).
"""

from __future__ import annotations

import io
import json
import sys
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpResponse, JsonResponse
from django.http.request import split_domain_port, validate_host
from django.shortcuts import render

GIT_PREFIX = "/internal/git/"  # workers' pushes (agents/git_http.py): bounded by SWARM_GIT_MAX_BODY_BYTES instead


def body_limit(path: str) -> int:
    """The largest body a request to `path` may carry."""
    if settings.SWARM_WORKER_DISK == "local" and path.startswith(GIT_PREFIX):
        return settings.SWARM_GIT_MAX_BODY_BYTES
    return settings.SWARM_MAX_BODY_BYTES


def too_large_body(limit: int | None = None) -> bytes:
    limit = limit or settings.SWARM_MAX_BODY_BYTES
    return json.dumps({"error": f"The body is larger than the {limit:,} bytes this server accepts."}).encode()


# ---------------------------------------------------------------- request bodies


class BodyLimit:
    """ASGI: answer 413 to a declared Content-Length over the limit before reading it, and to a body that grows past
    the limit as it streams in, without passing the rest on."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = body_limit(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.strip().isdigit() and int(declared) > limit:
            return await self._refuse(send, limit)
        seen = 0
        refused = False

        async def bounded_receive():
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    await self._refuse(send, limit)
                    return {"type": "http.disconnect"}  # the app stops reading; nothing more is buffered
            return message

        async def guarded_send(message):
            if not refused:  # the app's own answer after our 413 goes nowhere
                await send(message)

        return await self.app(scope, bounded_receive, guarded_send)

    @staticmethod
    async def _refuse(send, limit: int) -> None:
        body = too_large_body(limit)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers + [(b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def install_daphne_body_limit() -> None:
    """Make daphne build `BoundedWebRequest`s. Its factory reads the module's `WebRequest` for each connection.

    Only inside a daphne server (its CLI and runserver import daphne.server, which installs the asyncio reactor, before
    they load the application): importing Twisted anywhere else could install the wrong reactor."""
    if "daphne.server" not in sys.modules:
        return
    from daphne import http_protocol

    if http_protocol.WebRequest.__name__ != "BoundedWebRequest":
        http_protocol.WebRequest = _bounded_web_request(http_protocol.WebRequest)


def install_daphne_clean_closes() -> None:
    """daphne's websockets (autobahn) drop the TCP connection of a client that breaks a rule, such as a message over
    daphne's `websocket_max_message_size` (1 MiB): with `failByDrop` off they send a close frame with the reason's
    code first (1009 for a message too big), a clean close the client can read. Only inside a daphne server."""
    if "daphne.server" not in sys.modules:
        return
    from daphne import ws_protocol

    factory = ws_protocol.WebSocketFactory
    if getattr(factory, "swarm_clean_closes", False):
        return
    original = factory.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.setProtocolOptions(failByDrop=False)

    factory.__init__ = __init__
    factory.swarm_clean_closes = True


def _bounded_web_request(base):
    class BoundedWebRequest(base):
        refused = False
        body_seen = 0

        def limit(self) -> int:
            path = getattr(self.channel, "_path", b"") or b""  # the request line's target, known by now
            return body_limit(path.decode("latin-1").partition("?")[0])

        def gotLength(self, length):
            if length is not None and length > self.limit():
                self.content = io.BytesIO()
                return self.refuse()
            return super().gotLength(length)

        def handleContentChunk(self, data):
            if self.refused:
                return  # drained, never stored
            self.body_seen += len(data)
            if self.body_seen > self.limit():
                return self.refuse()
            return super().handleContentChunk(data)

        def requestReceived(self, command, path, version):
            if not self.refused:
                return super().requestReceived(command, path, version)

        def refuse(self):
            from twisted.internet import reactor  # daphne's, installed by then

            self.refused = True
            if hasattr(self.content, "close"):
                self.content.close()
            self.content = io.BytesIO()
            body = too_large_body(self.limit())
            transport = self.channel.transport
            transport.write(
                b"HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            # a short linger so the client reads the answer rather than a reset while it is still sending
            reactor.callLater(1.0, transport.loseConnection)

    return BoundedWebRequest


# ---------------------------------------------------------------- lockouts (django-axes)


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """What a locked-out address gets: the API a JSON error, a browser a page that says when to come back."""
    minutes = settings.AXES_COOLOFF_TIME.total_seconds() / 60
    if request.path.startswith("/api/"):
        message = f"Too many failed logins or API tokens from your address; try again in {minutes:g} minutes."
        return JsonResponse({"error": message}, status=429)
    context = {
        "username": (credentials or {}).get("username") or request.POST.get("username", ""),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "minutes": f"{minutes:g}",
    }
    return render(request, "registration/locked_out.html", context, status=429)


# ---------------------------------------------------------------- static files


class StaticFiles(ASGIStaticFilesHandler):
    """/static/ from the app's directories; a path that escapes them is a 404 like any missing file."""

    def serve(self, request):
        try:
            return super().serve(request)
        except SuspiciousOperation:
            raise Http404("no such static file") from None


# ---------------------------------------------------------------- websocket origins


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the scheme's default port filled in; None when it is not an origin."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"} or not parts.hostname or parts.path not in {"", "/"} or parts.query:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


class ExactOriginValidator:
    """A websocket opens only when its Origin is exactly this site (same scheme, host and port as the request, the
    host in ALLOWED_HOSTS) or exactly one of CSRF_TRUSTED_ORIGINS. Anything else is refused before `accept()`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not self.allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.app(scope, receive, send)

    @staticmethod
    def allowed(scope) -> bool:
        headers = {}
        for name, value in scope.get("headers") or []:
            headers.setdefault(name.decode("latin1").lower(), value.decode("latin1"))
        origin = _origin(headers.get("origin", ""))
        if origin is None:
            return False
        if origin in {_origin(o) for o in settings.CSRF_TRUSTED_ORIGINS}:
            return True
        scheme = "https" if scope.get("scheme") in {"wss", "https"} or _proxy_says_https(headers) else "http"
        host = headers.get("host", "")
        domain, _ = split_domain_port(host)
        if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
            return False
        return origin == _origin(f"{scheme}://{host}")


def _proxy_says_https(headers: dict[str, str]) -> bool:
    header = settings.SECURE_PROXY_SSL_HEADER
    if not header:
        return False
    name, value = header
    wanted = name.lower().removeprefix("http_").replace("_", "-")
    return headers.get(wanted, "").split(",")[0].strip() == value


def client_address(request) -> str:
    """The address login failures are counted against: REMOTE_ADDR, or behind SWARM_PROXY_COUNT proxies the client
    address the nearest trusted proxy saw (a header the client wrote itself is never believed further left)."""
    from django.conf import settings

    remote = request.META.get("REMOTE_ADDR", "") or ""
    count = settings.SWARM_PROXY_COUNT
    if count <= 0:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    return hops[-count] if len(hops) >= count else remote
