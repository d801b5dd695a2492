"""The JSON API over HTTP (urllib, the standard library): a bearer token from SWARM_TOKEN, the server at SWARM_URL.
A refusal is an ApiError with the server's own sentence and the field it names; the token is never printed."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000"


class ApiError(Exception):
    def __init__(self, message: str, status: int = 0, field: str | None = None):
        super().__init__(message)
        self.status, self.field = status, field


class Client:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 30):
        self.url = (url or os.environ.get("SWARM_URL") or DEFAULT_URL).rstrip("/")
        self.token = token if token is not None else os.environ.get("SWARM_TOKEN", "")
        self.timeout = timeout
        if not self.token:
            raise ApiError("Set SWARM_TOKEN to an API token (make one with `python manage.py api_token USERNAME`).")

    def get(self, path: str, **query) -> dict:
        params = {k: v for k, v in query.items() if v is not None}
        return self._call("GET", path + (f"?{urllib.parse.urlencode(params)}" if params else ""))

    def post(self, path: str, data: dict | None = None) -> dict:
        return self._call("POST", path, data if data is not None else {})

    def _call(self, method: str, path: str, data: dict | None = None) -> dict:
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(self.url + "/api/" + path.lstrip("/"), data=body, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read() or b"{}")
            except ValueError:
                answer = {}
            message = answer.get("error") or f"the server answered {exc.code} {exc.reason}"
            raise ApiError(message, exc.code, answer.get("field")) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(f"cannot reach Swarm at {self.url} ({reason}); is SWARM_URL right?") from None
