"""Random and hostile inputs to every route of the URLconf, as a logged-in team member (session and API token).

Counts the inputs tried and those answered with a 5xx. Routes and their parameters come from the URLconf itself,
so a new view is fuzzed without anyone listing it here. The admin site is left out (Django's own).
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter

HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202etxt.exe",
    "👩‍👩‍👧‍👦" * 50,
    "</script><script>alert(1)</script>",
    "{{ 7*7 }}",
    "' OR 1=1 --",
    "../../../../etc/passwd",
    "x" * 70_000,
    "line\n" * 5000,
    "-1",
    "0",
    "99999999999999999999999",
    "1e309",
    "NaN",
    "null",
    "queue",
    "interrupt",
    "sim-diligent",
    "Ada = sim-diligent",
]
# bytes no text field should ever see: invalid UTF-8, a lone surrogate, overlong NUL
RAW_BYTES = [b"\xff\xfe\xfd", b"\xed\xa0\x80", b"\xc0\x80", b"%ED%A0%80", b"%00", b"%FF"]
FIELD_NAMES = [
    "text",
    "mode",
    "client_msg_id",
    "title",
    "goal",
    "context",
    "acceptance",
    "verify_command",
    "roster",
    "agents",
    "repo",
    "budget_minutes",
    "budget_tokens",
    "budget_usd",
    "name",
    "rules",
    "comment",
    "decision",
    "path",
    "model",
    "api_base",
    "api_key_env",
    "delete_branch",
    "markdown",
    "after",
    "page",
    "username",
    "password",
]
ACTIONS = ["pause", "resume", "stop", "grant", "cleanup", "export", "approve", "reject", "x", "%00", "..", "a" * 300]


def _json_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice(HOSTILE_TEXT)
    if kind == 1:
        return rng.choice([0, -1, 2**63, -(2**70), 1.5, float("1e300")])
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return "\ud800 lone surrogate"
    if kind == 4:
        return rng.choice(FIELD_NAMES)
    if kind == 5:
        return ""
    if kind == 6:
        return [_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(FIELD_NAMES): _json_value(rng, depth + 1) for _ in range(rng.randrange(5))}


def _body(rng: random.Random) -> tuple[bytes, str]:
    """A request body and its content type: forms, JSON, broken JSON, broken multipart, raw bytes."""
    kind = rng.randrange(6)
    if kind == 0:
        fields = {rng.choice(FIELD_NAMES): rng.choice(HOSTILE_TEXT) for _ in range(rng.randrange(1, 6))}
        from urllib.parse import urlencode

        return urlencode(fields).encode(), "application/x-www-form-urlencoded"
    if kind == 1:
        raw = b"&".join(rng.choice(FIELD_NAMES).encode() + b"=" + rng.choice(RAW_BYTES) for _ in range(3))
        return raw, "application/x-www-form-urlencoded"
    if kind == 2:
        value = _json_value(rng)
        return json.dumps(value, ensure_ascii=True).encode(), "application/json"
    if kind == 3:
        return rng.choice([b"{", b"[1,", b'{"text": "\xff"}', b"\x00" * 10, b"null", b'"' + b"a" * 100_000]), (
            "application/json"
        )
    if kind == 4:
        return b'--xx\r\nContent-Disposition: form-data; name="text"\r\n\r\nhi\r\n--x', (
            "multipart/form-data; boundary=xx"
        )
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))), rng.choice(
        ["text/plain", "application/octet-stream", "application/json", "application/x-www-form-urlencoded"]
    )


def _routes() -> list[tuple[str, list[tuple[str, str]]]]:
    """(regex-free route template, [(param name, converter)]) for every non-admin URL pattern."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found = []

    def walk(patterns, prefix: str) -> None:
        for p in patterns:
            text = str(p.pattern)
            if isinstance(p, URLResolver):
                if text.startswith("admin/"):
                    continue
                walk(p.url_patterns, prefix + text)
            elif isinstance(p, URLPattern):
                found.append(prefix + text)

    walk(get_resolver().url_patterns, "")
    return [(r, []) for r in found if not r.startswith("^")]


def _fill(route: str, rng: random.Random, ids: dict[str, list[int]]) -> str:
    import re

    def param(match):
        converter, name = match.group(1) or "str", match.group(2)
        if converter == "int":
            pool = ids.get(name, []) + ids["any"]
            return str(rng.choice(pool + [0, 1, 999_999_999]))
        return rng.choice(ACTIONS)

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", param, route)


def fuzz_every_route(rng: random.Random, budget: int) -> tuple[int, int, list[str]]:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from agents import demo, services
    from agents.models import Agent, ApiToken, Membership, TaskSpec, TasteGuide
    from judges.models import Verdict

    team, task = demo.seed("Fuzz team")
    services.launch_task(demo.task_like(task, [("Ada", "sim-lazy")], title="fuzz target"))
    user = get_user_model().objects.create_user("fuzzer", password="a-long-pass-phrase-for-fuzz")
    Membership.objects.create(team=team, user=user, role="admin")  # every route open to it: nothing skipped
    token = ApiToken.issue(user)
    ids = {
        "any": list(Agent.objects.values_list("pk", flat=True)[:5])
        + list(TaskSpec.objects.values_list("pk", flat=True)[:5])
        + list(Verdict.objects.values_list("pk", flat=True)[:5])
        + list(TasteGuide.objects.values_list("pk", flat=True)[:5])
    }
    host = settings.ALLOWED_HOSTS[0] if settings.ALLOWED_HOSTS else "localhost"
    client = Client(raise_request_exception=False, HTTP_HOST=host)
    routes = [r for r, _ in _routes()]
    tried = errors = 0
    notes: list[str] = []
    statuses: Counter[int] = Counter()
    logging.getLogger("django.request").setLevel(logging.CRITICAL)  # 4xx lines by the thousand say nothing
    per_route = max(1, -(-budget // max(1, len(routes))))  # rounded up: at least `budget` inputs however many routes
    for route in routes:
        for _ in range(per_route):
            client.force_login(user)
            url = _fill(route, rng, ids)
            method = rng.choice(["get", "get", "get", "post", "post", "post", "post", "put", "patch", "delete"])
            headers = (
                {"HTTP_AUTHORIZATION": f"Bearer {token}"} if url.startswith("/api/") and rng.random() < 0.7 else {}
            )
            if rng.random() < 0.3:
                headers["HTTP_HX_REQUEST"] = "true"
            if method == "get":
                query = {rng.choice(FIELD_NAMES): rng.choice(HOSTILE_TEXT)[:2000] for _ in range(rng.randrange(3))}
                response = client.get(url, query, **headers)
            else:
                body, content_type = _body(rng)
                response = getattr(client, method)(url, body, content_type=content_type, **headers)
            tried += 1
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                errors += 1
                if len(notes) < 20:
                    notes.append(f"{method.upper()} {url} -> {response.status_code}")
    notes.append("answers: " + ", ".join(f"{code} x{n}" for code, n in sorted(statuses.items())))
    return tried, errors, notes
