"""The JSON API as a script or another program uses it: a token from the management command, a client that
sends it, and the builders the API tests share (a task written and launched through the API)."""

from __future__ import annotations

import json
from io import StringIO

from django.core.management import call_command

from agents.models import Agent, TaskSpec


def issue_token(username: str) -> str:
    """A token exactly as an operator gets one: from the management command's output."""
    out = StringIO()
    call_command("api_token", username, stdout=out)
    return out.getvalue().strip()


def scoped_token(username: str, scope: str, name: str = "") -> str:
    """A named token of the given scope, from the management command's output."""
    out = StringIO()
    call_command("api_token", username, "--scope", scope, "--name", name or f"{username} {scope}", stdout=out)
    return out.getvalue().strip()


class Api:
    """The test client speaking JSON with a bearer token."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, params: dict | None = None):
        return self.client.get(path, params or {}, headers=self.headers)

    def post(self, path: str, data=None, raw: bytes | str | None = None):
        payload = raw if raw is not None else json.dumps(data if data is not None else {})
        return self.client.post(path, payload, content_type="application/json", headers=self.headers)

    def patch(self, path: str, data: dict):
        return self.client.patch(path, json.dumps(data), content_type="application/json", headers=self.headers)

    def delete(self, path: str):
        return self.client.delete(path, headers=self.headers)

    def request(self, method: str, path: str):
        return self.client.generic(method, path, headers=self.headers)


def small_task(api: Api, roster: list[tuple[str, str]], title: str = "Fix mean() via the API") -> dict:
    response = api.post(
        "/api/tasks",
        {
            "repo": "mathutil",
            "title": title,
            "goal": "mean([2, 4, 6]) should be 4.",
            "acceptance": ["mean([2, 4, 6]) == 4", "The whole test suite passes"],
            "verify_command": "python -m pytest -q",
            "agents": [{"name": n, "model": m} for n, m in roster],
            "budget": {"minutes": 20, "tokens": 100_000, "usd": 1.5},
            "taste_guides": ["House style"],
            "skills": ["small-diff"],
        },
    )
    assert response.status_code == 201, response.json()
    return response.json()


def launch_via_api(api: Api, roster: list[tuple[str, str]]) -> tuple[TaskSpec, dict[str, Agent]]:
    task = small_task(api, roster)
    response = api.post(f"/api/tasks/{task['id']}/launch")
    assert response.status_code == 201, response.json()
    agents = {a.name: a for a in Agent.objects.filter(task_id=task["id"])}
    return TaskSpec.objects.get(pk=task["id"]), agents
