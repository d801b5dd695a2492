"""The JSON API's machinery: route tables, token auth, body checking, errors and the OpenAPI document.

One route table per app (agents/api_urls.py, judges/api_urls.py) makes both the URLs and the OpenAPI schema,
which is built from the URLconf itself, so the two cannot drift. A handler gets the request (with `request.user` from the
token, `request.team_ids` and `request.action`, the role-checked action its operation declares), the checked JSON
body when its operation declares one, and the URL's parameters.
It returns data, or `(status, data)`. Refusals are `ServiceError`s; the dispatcher answers them as
`{"error": "..."}` with their status (and `field` when one field is at fault).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.urls import URLPattern, URLResolver, get_resolver, path
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import bad_request as bad_request_page
from django.views.defaults import page_not_found

from agents import permissions, services
from agents.api_check import MAX_ID, check
from agents.errors import FieldError, ServiceError
from agents.models import ApiToken, Team, team_id_of

# what a failed token attempt is recorded as: the address is what counts (no account is named)
TOKEN_CREDENTIALS = {"username": "(api token)"}
TOKEN_HINT = "make one with `python manage.py api_token USERNAME` and send `Authorization: Bearer <token>`"


# ---------------------------------------------------------------- the route table and its dispatcher


@dataclass(frozen=True)
class Operation:
    handler: Callable
    summary: str
    response: dict  # JSON schema of the success answer
    status: int = 200
    body: dict | None = None  # JSON schema of the request body; None: the body is ignored
    query: dict[str, dict] = field(default_factory=dict)  # name -> schema (with a description)
    errors: tuple[int, ...] = ()  # statuses besides the ones every operation of its kind can answer
    auth: str = "team"  # "none", "token" (any valid token) or "team" (a token of a team member)
    action: str = "view"  # what agents/permissions.py must allow the caller in the object's team
    scope: str = ""  # the token scope it needs when that is not the action's (permissions.SCOPES), e.g. "admin"


class Route:
    """One URL under /api/ and what each HTTP method does there."""

    def __init__(self, pattern: str, name: str, **operations: Operation):
        self.pattern, self.name = pattern, name
        self.operations = {method.upper(): op for method, op in operations.items()}
        for method, op in self.operations.items():
            if op.action not in permissions.ACTIONS:
                raise ValueError(f"{method} {pattern}: unknown action {op.action!r}")
            if method != "GET" and op.auth == "team" and op.action == "view":
                raise ValueError(f"{method} {pattern} changes something: declare the action its role check needs")

    def urlpattern(self) -> URLPattern:
        def view(request, **kwargs):
            return dispatch(self, request, **kwargs)

        view.route = self  # read back by the OpenAPI builder
        return path(self.pattern, csrf_exempt(view), name=self.name)


def error(message: str, status: int, **extra) -> JsonResponse:
    response = JsonResponse({"error": message, **extra}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="swarm"'
    return response


def not_found(request, exception=None):
    """The site's 404: JSON under /api/ (a URL that matches no route, like /api/tasks/-1), the page elsewhere."""
    if request.path.startswith("/api/"):
        return error("There is no such API URL; /api/openapi.json lists them.", 404)
    return page_not_found(request, exception)


def bad_request(request, exception=None):
    """The site's 400 for what Django refuses before any view (a Host header it does not serve, for one): JSON
    under /api/, the page elsewhere. The refused value is not repeated."""
    if request.path.startswith("/api/"):
        return error("This request was refused before reaching the API: a header (such as Host) is not valid.", 400)
    return bad_request_page(request, exception)


def dispatch(route: Route, request, **kwargs) -> JsonResponse:
    op = route.operations.get(request.method)
    if op is None:
        allowed = ", ".join(route.operations)
        response = error(f"{request.method} is not allowed here; use {allowed}.", 405)
        response["Allow"] = allowed
        return response
    try:
        if op.auth != "none":
            # the token only: a session cookie never authenticates the API (no CSRF protection here)
            request.user = authenticate(request)
            check_scope(request, op)
            request.team_ids = permissions.team_ids(request.user)
            request.action = op.action
            if op.auth == "team" and not request.team_ids:
                raise ServiceError("You are not a member of any team; ask an admin to add you.", 403)
        check_query(request, op)
        if op.body is not None:
            body = read_json(request, required=bool(op.body.get("required")))
            check(body, op.body)
            result = op.handler(request, body, **kwargs)
        else:
            result = op.handler(request, **kwargs)
    except ServiceError as exc:
        extra = {"field": exc.field} if isinstance(exc, FieldError) else {}
        return error(exc.message, exc.status, **extra)
    status, data = result if isinstance(result, tuple) else (op.status, result)
    return JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})


def authenticate(request):
    """The token's user. Wrong tokens count as failed logins from the caller's address (django-axes), so an address
    that guesses tokens is locked out like one that guesses passwords, with a 429 until the cool-off."""
    if AxesProxyHandler.is_locked(request, TOKEN_CREDENTIALS):
        minutes = settings.AXES_COOLOFF_TIME.total_seconds() / 60
        raise ServiceError(
            f"Too many failed logins or API tokens from your address; try again in {minutes:g} minutes.", 429
        )
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ServiceError(f"This needs an API token: {TOKEN_HINT}.", 401)
    token = ApiToken.objects.select_related("user").filter(digest=ApiToken.hash(raw.strip())).first()
    if token is None or not token.user.is_active:
        user_login_failed.send(sender=__name__, credentials=TOKEN_CREDENTIALS, request=request)
        raise ServiceError(f"This API token is not valid; {TOKEN_HINT}.", 401)
    token.user.token_scope, token.user.token_id = token.scope, token.pk  # every role check heeds the scope too
    return token.user


def check_scope(request, op: Operation) -> None:
    """A read token only reads; any other needs a scope that allows the operation's action (403 saying which)."""
    scope = request.user.token_scope
    if scope == "read" and request.method != "GET":
        raise ServiceError("This API token's scope is read: it may only read (GET); use a token of another scope.", 403)
    if op.scope and scope != op.scope:
        raise ServiceError(f"This API token's scope is {scope}; this needs a token of scope {op.scope}.", 403)
    refusal = permissions.scope_refusal(request.user, op.action) if op.auth == "team" and not op.scope else ""
    if refusal:
        raise ServiceError(refusal, 403)


def check_query(request, op: Operation) -> None:
    """A query parameter the operation does not declare is refused, like an unknown body field: a typo such as
    `?statu=approved` would otherwise answer the unfiltered list as if it were the filtered one."""
    for name in request.GET:
        if name not in op.query:
            known = f"parameters: {', '.join(op.query)}" if op.query else "it takes no query parameters"
            raise FieldError(name[:100], f"is not a query parameter here ({known}).")


def read_json(request, required: bool = True) -> dict:
    try:
        raw = request.body
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raise ServiceError(f"The body is larger than the {limit:,} bytes this server accepts.", 413) from None
    if not raw.strip():
        if required:
            raise ServiceError("Send a JSON object as the body.", 400)
        return {}
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise ServiceError("The body must be UTF-8 encoded JSON.", 400) from None
    except json.JSONDecodeError as exc:
        raise ServiceError(f"The body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
    except ValueError as exc:
        raise ServiceError(f"The body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise ServiceError("The body's JSON is nested too deeply.") from None
    if not isinstance(data, dict):
        raise ServiceError('The body must be a JSON object, like {"text": "..."}.', 400)
    return services.clean_chars(data)  # "\ud800" or "\u0000" in JSON: text no database or answer could hold


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def int_query(request, name: str, default: int) -> int:
    raw = request.GET.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or int(raw) > MAX_ID:
        raise FieldError(name, "must be a whole number of 0 or more.")
    return int(raw)


def owned(request, queryset, pk: int, what: str):
    """The object if it is in the caller's teams (404 alike when it is another team's or does not exist, so a
    stranger learns nothing), and if the caller's role there allows the operation's action (403 otherwise)."""
    obj = queryset.for_user(request.user).filter(pk=pk).first() if pk <= MAX_ID else None
    if obj is None:
        raise ServiceError(f"There is no {what} {pk} in your teams.", 404)
    permissions.require(request.user, team_id_of(obj), request.action)
    return obj


TEAM_REF = {
    "type": ["string", "integer"],
    "description": "team name or id; needed only when you are in several teams",
}


def request_team(request, ref: str | int | None) -> Team:
    """The team a new object goes to: the one named, or the caller's only team; the role must allow the action."""
    teams = Team.objects.filter(pk__in=request.team_ids).order_by("id")
    if ref is None:
        if len(teams) > 1:
            names = ", ".join(t.name for t in teams)
            raise FieldError("team", f"is needed: you are in several teams ({names}); name one.")
        team = teams.first()
    else:
        team = teams.filter(**({"name": ref} if isinstance(ref, str) else {"pk": ref})).first()
        if team is None:
            raise FieldError("team", "is not one of your teams.")
    permissions.require(request.user, team.pk, request.action)
    return team


TEAM_QUERY = {"team": {"type": "string", "description": "team name or id; needed only when you are in several teams"}}


def team_ref(raw: str | None) -> str | int | None:
    """A team named in a query string: an id when it is one (ASCII digits: `int("²")` fails), else a name."""
    return int(raw) if raw is not None and raw.isascii() and raw.isdigit() and len(raw) <= 18 else raw


def query_team(request) -> Team:
    """`request_team` for a read that names its team in the query string (`?team=`, a name or an id)."""
    return request_team(request, team_ref(request.GET.get("team")))


# ---------------------------------------------------------------- the OpenAPI document, built from the URLconf


def _api_patterns(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _api_patterns(p.url_patterns, prefix + str(p.pattern))
        elif (prefix + str(p.pattern)).startswith("api/"):
            yield prefix + str(p.pattern), p


_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
_ERRORS = {
    400: "The body or a query parameter is malformed or unknown; `field` names it.",
    401: "Missing or invalid API token.",
    403: "The token's scope, or its user's role in the team, does not allow this (the answer says which would).",
    404: "No such object in your teams.",
    405: "Wrong method.",
    409: "Conflicts with the object's current state.",
    413: "The body is too large.",
    429: "Too many failed logins or tokens from this address; wait for the cool-off.",
    502: "The model this needed could not answer; nothing was stored.",
}


def _hoist(schema, components: dict):
    """Titled object schemas go to components/schemas and are referenced from where they were used."""
    if isinstance(schema, list):
        return [_hoist(s, components) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _hoist(v, components) for k, v in schema.items()}
    if isinstance(schema.get("title"), str) and schema.get("type") == "object":
        components[schema["title"]] = out
        return {"$ref": f"#/components/schemas/{schema['title']}"}
    return out


def build_openapi() -> dict:
    components = {"Error": ERROR}
    paths: dict[str, dict] = {}
    for route_path, pattern in _api_patterns(get_resolver().url_patterns):
        route = getattr(pattern.callback, "route", None)
        if route is None:
            continue  # not declared in a route table: the OpenAPI test reports it
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "integer" if conv == "int" else "string"}}
            for conv, name in _CONVERTER.findall(route_path)
        ]
        item = paths.setdefault("/" + _CONVERTER.sub(r"{\2}", route_path), {})
        for method, op in route.operations.items():
            statuses = set(op.errors) | {405}
            statuses |= {401, 403, 429} if op.auth in ("team", "token") else set()
            statuses |= {404} if params else set()
            statuses |= {400, 413} if op.body is not None else set()
            statuses |= {400}  # an unknown query parameter, whatever the operation
            responses = {str(op.status): {"description": op.summary, "content": _json(op.response)}}
            for status in sorted(statuses):
                responses[str(status)] = {"description": _ERRORS[status], "content": _json(ERROR_REF)}
            roles = " or ".join(r for r in permissions.Role.values if r in permissions.ACTIONS[op.action][0])
            operation = {
                "operationId": f"{route.name}_{method.lower()}",
                "summary": op.summary,
                "parameters": params
                + [{"name": n, "in": "query", "required": False, "schema": s} for n, s in op.query.items()],
                "responses": responses,
                "security": [] if op.auth == "none" else [{"bearer": []}],
            }
            scopes = [op.scope] if op.scope else [s for s in permissions.SCOPES if op.action in permissions.SCOPES[s]]
            scopes = [s for s in scopes if s != "read"] if method != "GET" else scopes
            if op.auth == "team":
                operation["description"] = f"Roles allowed in the team: {roles}. Token scopes: {', '.join(scopes)}."
            elif op.auth == "token":
                operation["description"] = f"Token scopes: {', '.join(scopes)}."
            if op.body is not None:
                operation["requestBody"] = {"required": bool(op.body.get("required")), "content": _json(op.body)}
            item[method.lower()] = operation
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "Swarm API",
            "version": "1",
            "description": f"Supervise teams of coding agents. Every call but health needs a token: {TOKEN_HINT}.",
        },
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }
    doc = _hoist(doc, components)
    doc["components"]["schemas"] = components
    return doc


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


# ---------------------------------------------------------------- schema helpers

ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
    "required": ["error"],
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
STRING, INTEGER, NUMBER, BOOLEAN = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
TIME = {"type": ["string", "null"], "description": "ISO 8601, or null when it has not happened"}
STRINGS = {"type": "array", "items": STRING}


def obj(title: str | None = None, /, **properties) -> dict:
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    return {"title": title, **schema} if title else schema


def body(required: list[str], **properties) -> dict:
    """A request body (or part of one): unknown fields are refused, so a typo or a forged field is not ignored."""
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def text(max_length: int, min_length: int = 0, **extra) -> dict:
    return {"type": "string", "maxLength": max_length, "minLength": min_length, **extra}
