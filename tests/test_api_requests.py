"""Requests the API refuses clearly (malformed JSON, wrong types, 413, 405) and the OpenAPI document that
describes every route and method it answers."""

from __future__ import annotations

import json
import re

from django.urls import URLPattern, URLResolver, get_resolver
from jsonschema import Draft202012Validator

from agents.models import TaskSpec


def test_malformed_json_and_wrong_types_get_400_naming_the_field(api, demo):
    before = TaskSpec.objects.count()
    good = {
        "repo": "mathutil",
        "title": "A task",
        "goal": "Do it.",
        "acceptance": ["done"],
        "agents": [{"name": "Ada", "model": "sim-diligent"}],
    }
    bad_json = api.post("/api/tasks", raw='{"title": "unterminated')
    assert bad_json.status_code == 400
    assert "not valid JSON" in bad_json.json()["error"]
    assert api.post("/api/tasks", raw="[1, 2]").status_code == 400
    assert "JSON object" in api.post("/api/tasks", raw="[1, 2]").json()["error"]
    assert api.post("/api/tasks", raw=b"\xff\xfe{").status_code == 400

    cases = [
        ({"title": None}, "title", "must be a string"),
        ({"budget": {"minutes": "lots"}}, "budget.minutes", "whole number"),
        ({"budget": {"minutes": 0}}, "budget.minutes", "at least 1"),
        ({"budget": {"usd": -1}}, "budget.usd", "greater than or equal to 0"),
        ({"budget": {"tokens": 2**40}}, "budget.tokens", "out of range"),
        ({"taste_guides": ["House style", "Nope"]}, "taste_guides", "does not have: Nope"),
        ({"skills": ["small-diff", "ghost"]}, "skills", "skills has names your team does not have: ghost."),
        ({"agents": [{"name": "Ada", "model": 5}]}, "agents[0].model", "must be a string"),
        ({"agents": [{"name": "Ada"}]}, "agents[0].model", "is required"),
        ({"agents": [{"name": "Ada", "model": "gpt-9000"}]}, "agents", "not a model profile of your team"),
        ({"agents": [{"name": "Ada", "model": "sim-lazy"}, {"name": "ada", "model": "sim-lazy"}]}, "agents", "twice"),
        ({"acceptance": "done"}, "acceptance", "must be a list"),
        ({"acceptance": ["  "]}, "acceptance", "at least one acceptance criterion"),
        ({"repo": "nope"}, "repo", "not a repository of your team"),
        ({"repo": True}, "repo", "must be a string or a whole number"),
        ({"goal": "   "}, "goal", "must not be empty"),
        ({"decision": "approve"}, "decision", "is not a field here"),
    ]
    for change, field, words in cases:
        response = api.post("/api/tasks", {**good, **change})
        assert response.status_code == 400, (change, response.json())
        assert response.json()["field"] == field, response.json()
        assert words in response.json()["error"], response.json()
    missing = api.post("/api/tasks", {k: v for k, v in good.items() if k != "title"})
    assert (missing.status_code, missing.json()["field"]) == (400, "title")
    assert "title is required" in missing.json()["error"]
    assert TaskSpec.objects.count() == before  # nothing partial was written

    message = api.post("/api/agents/1/messages", {"text": ["not", "text"]})
    assert message.status_code in {400, 404}


def test_an_unknown_query_parameter_gets_400_naming_it_and_changes_nothing(api, demo):
    _, task = demo
    # a typo of a filter would otherwise answer the unfiltered list as if it were the filtered one
    typo = api.get("/api/verdicts", {"statu": "approved"})
    assert typo.status_code == 400 and typo.json()["field"] == "statu"
    assert "parameters: status, sort, page" in typo.json()["error"]
    bare = api.get(f"/api/tasks/{task.pk}", {"expand": "agents"})
    assert bare.status_code == 400 and bare.json()["field"] == "expand"
    assert "takes no query parameters" in bare.json()["error"]
    title = task.title
    wrote = api.client.patch(
        f"/api/tasks/{task.pk}?dry_run=1", json.dumps({"title": "changed"}), "application/json", headers=api.headers
    )
    assert wrote.status_code == 400 and wrote.json()["field"] == "dry_run"
    task.refresh_from_db()
    assert task.title == title
    assert api.get("/api/verdicts", {"status": "all"}).status_code == 200  # the declared ones still work


def test_a_host_header_the_server_refuses_gets_json_under_the_api_and_the_page_elsewhere(client, db):
    api = client.get("/api/health", headers={"host": "evil host>"})
    assert api.status_code == 400 and api["Content-Type"] == "application/json"
    assert "header" in api.json()["error"] and "evil" not in api.json()["error"]
    page = client.get("/accounts/login/", headers={"host": "evil host>"})
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")


def test_a_3mb_body_gets_413_and_writes_nothing(api, demo):
    before = TaskSpec.objects.count()
    huge = json.dumps({"repo": "mathutil", "title": "big", "goal": "x" * (3 * 1024 * 1024), "acceptance": ["a"]})
    response = api.post("/api/tasks", raw=huge)
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]
    assert TaskSpec.objects.count() == before


def test_a_wrong_method_gets_405_with_the_allowed_ones(api, demo):
    _, task = demo
    response = api.request("PUT", f"/api/tasks/{task.pk}")
    assert response.status_code == 405
    assert response["Allow"] == "GET, PATCH, DELETE"
    assert "use GET, PATCH, DELETE" in response.json()["error"]
    assert api.get(f"/api/tasks/{task.pk}/launch").status_code == 405
    assert TaskSpec.objects.filter(pk=task.pk).exists()


def _api_urls(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _api_urls(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern) and (prefix + str(p.pattern)).startswith("api/"):
            yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", prefix + str(p.pattern))


def test_the_openapi_document_describes_every_api_route_and_method(api, demo):
    response = api.get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    urls = set(_api_urls(get_resolver().url_patterns))
    assert len(urls) >= 13
    assert urls <= set(doc["paths"]), f"undocumented: {urls - set(doc['paths'])}"
    assert doc["paths"]["/api/health"]["get"]["security"] == []

    methods = {"get", "post", "put", "patch", "delete"}
    for url, item in doc["paths"].items():
        concrete = re.sub(r"\{\w+\}", "1", url)
        for method in methods - set(item):  # what it does not document, it refuses
            assert api.request(method.upper(), concrete).status_code == 405, (method, url)
        for method, operation in item.items():
            assert operation["responses"], url
            if method == "post" and "requestBody" in operation:
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                assert schema["type"] == "object" and schema["additionalProperties"] is False
            if "{pk}" in url:
                assert {"name": "pk", "in": "path", "required": True, "schema": {"type": "integer"}} in operation[
                    "parameters"
                ]
            assert api.request(method.upper(), concrete).status_code != 405, (method, url)

    # every schema in it is valid JSON Schema 2020-12, the dialect of OpenAPI 3.1
    def schemas(node):
        if isinstance(node, dict):
            if "schema" in node:
                yield node["schema"]
            for value in node.values():
                yield from schemas(value)
        elif isinstance(node, list):
            for value in node:
                yield from schemas(value)

    found = list(schemas(doc["paths"])) + list(doc["components"]["schemas"].values())
    assert len(found) > 50
    for schema in found:
        Draft202012Validator.check_schema(schema)
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', response.content.decode()))
    assert refs <= set(doc["components"]["schemas"])
    assert {"Task", "Agent", "Event", "Message", "Verdict", "Error"} <= refs
