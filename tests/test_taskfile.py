"""Task files: any task exported and imported again is the same task; a file obeys the task page's rules and a
refusal names the file's field; the JSON Schema is published, and docs/ holds the same."""

from __future__ import annotations

import json
from pathlib import Path

from agents import demo_planner, taskfile
from agents.models import TaskSpec

ROOT = Path(__file__).resolve().parent.parent
FILE = """\
version: 1
repository: mathutil
title: Fix mean() from a file
goal: mean([2, 4, 6]) should be 4.
acceptance:
  - mean([2, 4, 6]) == 4
  - "The whole test suite passes, check: `python -m pytest -q`"
verify: python -m pytest -q
taste: [House style]
skills: [small-diff, reproduce-first]
roster:
  - Ada = sim-diligent
  - {name: Grace, profile: sim-lazy}
  - 3 x sim-diligent
judges: [judge-strict, judge-lenient]
rule: majority
budgets: {minutes: 12, tokens: 50000, usd: 0.75}
policy: {auto_approve: true, best_of_n: true, target_branch: main}
"""


def _fields(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "title"}


def test_a_task_file_makes_the_task_it_describes_and_its_export_makes_the_same_task_again(admin_api, demo):
    made = admin_api.post("/api/taskfiles", {"text": FILE})
    assert made.status_code == 201, made.json()
    task = TaskSpec.objects.get(pk=made.json()["id"])
    # the generator line: three agents named from the names list, skipping the file's own Ada and Grace
    names = [r["name"] for r in task.roster]
    assert names[:2] == ["Ada", "Grace"] and len(names) == 5 and len({n.lower() for n in names}) == 5
    assert (task.judge_rule, task.auto_approve, task.best_of_n, task.target_branch) == ("majority", True, True, "main")
    assert sorted(task.judge_profiles.values_list("name", flat=True)) == ["judge-lenient", "judge-strict"]
    assert (task.budget_minutes, task.budget_tokens, str(task.budget_usd)) == (12, 50_000, "0.75")

    for fmt in ("yaml", "json"):
        exported = admin_api.get(f"/api/tasks/{task.pk}/taskfile", {"format": fmt}).json()
        assert exported["format"] == fmt
        again = admin_api.post("/api/taskfiles", {"text": exported["text"]})
        assert again.status_code == 201, again.json()
        copy = TaskSpec.objects.get(pk=again.json()["id"])
        assert copy.pk != task.pk
        assert taskfile.export(copy) == taskfile.export(task) == exported["taskfile"]


def test_the_demo_task_round_trips_through_its_file_also_for_an_operator(adele, alice, demo):
    team, task = demo
    text = taskfile.dump(taskfile.export(task))
    for who in (adele, alice):  # the demo's panel is the team's judges: an operator's import keeps it as it is
        copy = taskfile.save(who, team, taskfile.parse(text))
        assert _fields(taskfile.export(copy)) == _fields(taskfile.export(task))
        assert copy.roster == task.roster and copy.acceptance == task.acceptance


def test_a_planner_task_round_trips_through_its_file(adele, admin_api, demo):
    team, _ = demo
    task = demo_planner.seed(team)  # the shop: a planner (sim-planner) instead of a roster
    data = taskfile.export(task)
    assert data["roster"] == [] and data["planner"] == {
        "model": "sim-planner",
        "workers": ["sim-fixer"],
        "max_workers": 4,
        "max_depth": 1,
    }
    for fmt in ("yaml", "json"):
        copy = taskfile.save(adele, team, taskfile.parse(taskfile.dump(data, fmt)))
        assert copy.pk != task.pk and taskfile.export(copy) == data
        assert copy.planner == {k: v for k, v in task.planner.items() if k != "name"}  # the name is the demo's own
    # the API says the same of the imported task as of the seeded one
    made = admin_api.post("/api/taskfiles", {"text": taskfile.dump(data, "json")})
    assert made.status_code == 201, made.json()
    assert admin_api.get(f"/api/tasks/{made.json()['id']}").json()["planner"] == data["planner"]


def test_a_file_is_refused_naming_its_field_and_nothing_is_stored(admin_api, api, demo):
    before = TaskSpec.objects.count()
    cases = [
        (FILE.replace("rule: majority", "rule: majority\ncolour: blue"), "colour", "not a field here"),
        (FILE.replace("repository: mathutil", "repository: nowhere"), "repository", "not a repository of your team"),
        (FILE.replace("Ada = sim-diligent", "Ada = gpt-9"), "roster", "not a model profile of your team"),
        (FILE.replace("[House style]", "[Bad taste]"), "taste", "Bad taste"),
        (FILE.replace("[small-diff, reproduce-first]", "[small-diff, ghost]"), "skills", "does not have: ghost."),
        (FILE.replace("minutes: 12", "minutes: 0"), "budgets.minutes", "at least 1"),
        (FILE.replace("goal: mean", "goal: [mean") + "\n", "file", "not valid YAML"),
        ("- just\n- a list\n", "file", "mapping of fields"),
        ("!!python/object/apply:os.system ['true']\n", "file", "not valid YAML"),
        (
            "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n",
            "file",
            "line 2",
        ),
        (FILE + "planner: {model: sim-diligent}\n", "planner.workers", "is required"),
        (FILE + "planner: {model: sim-diligent, workers: [sim-lazy], agents: 3}\n", "planner.agents", "not a field"),
        (FILE + "planner: {model: sim-diligent, workers: []}\n", "planner.workers", "at least one worker profile"),
        (FILE + "planner: {model: gpt-9, workers: [sim-lazy]}\n", "planner.model", "gpt-9"),
        (FILE + "planner: {model: sim-diligent, workers: [gpt-9]}\n", "planner.workers", "gpt-9"),
        (FILE + "planner: {model: sim-diligent, workers: [sim-lazy], max_depth: 7}\n", "planner.max_depth", "3"),
        (FILE + "planner: {model: sim-diligent, workers: [sim-lazy], max_workers: 0}\n", "planner.max_workers", "1"),
        (FILE.replace("title: Fix mean() from a file", "title: 2024-01-01"), "title", "quote it"),
    ]
    for text, field, words in cases:
        refused = admin_api.post("/api/taskfiles", {"text": text})
        assert refused.status_code == 400, (field, refused.json())
        assert refused.json()["field"] == field, refused.json()
        assert words in refused.json()["error"], refused.json()
    # the panel and auto-approve are a team admin's to set; an operator is told, not silently overruled
    operator = api.post("/api/taskfiles", {"text": FILE})
    assert operator.status_code == 403 and operator.json()["field"] == "rule", operator.json()
    auto = api.post("/api/taskfiles", {"text": FILE.replace("rule: majority", "rule: unanimous")})
    assert auto.status_code == 403 and auto.json()["field"] == "policy.auto_approve", auto.json()
    too_big = admin_api.post("/api/taskfiles", {"text": FILE + "#" * (300 * 1024)})
    assert too_big.status_code in (400, 413)
    assert TaskSpec.objects.count() == before


def test_the_schema_is_published_without_a_token_and_docs_hold_the_same(client, db):
    answer = client.get("/api/taskfile.schema.json")
    assert answer.status_code == 200
    schema = answer.json()
    assert schema["title"] == "Swarm task file" and schema["additionalProperties"] is False
    assert {"repository", "goal", "acceptance", "verify", "roster", "judges", "budgets", "policy"} <= set(
        schema["properties"]
    )
    assert json.loads((ROOT / "docs" / "taskfile.schema.json").read_text()) == schema


def test_the_tasks_page_imports_a_file_and_a_task_page_exports_it(adele_client, demo):
    from django.core.files.uploadedfile import SimpleUploadedFile

    page = adele_client.get("/")
    assert b"Import task file" in page.content
    upload = SimpleUploadedFile("fix-mean.yaml", FILE.encode(), content_type="application/yaml")
    answer = adele_client.post("/tasks/import/", {"file": upload}, follow=True)
    task = TaskSpec.objects.get(title="Fix mean() from a file")
    assert answer.redirect_chain[-1][0] == f"/tasks/{task.pk}/"
    assert "imported from fix-mean.yaml" in answer.content.decode()
    assert f'href="/tasks/{task.pk}/export/"'.encode() in answer.content

    exported = adele_client.get(f"/tasks/{task.pk}/export/")
    assert exported["Content-Disposition"] == f'attachment; filename="task-{task.pk}.yaml"'
    assert taskfile.parse(exported.content) == taskfile.export(task)

    bad = SimpleUploadedFile("bad.yaml", FILE.replace("mathutil", "nowhere").encode())
    refused = adele_client.post("/tasks/import/", {"file": bad}, follow=True)
    assert "bad.yaml was not imported: repository is not a repository of your team" in refused.content.decode()
    assert TaskSpec.objects.filter(title="Fix mean() from a file").count() == 1


def test_the_readmes_example_task_file_imports(adele, demo):
    team, _ = demo
    readme = (ROOT / "README.md").read_text()
    example = readme.split("## Task files", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    task = taskfile.save(adele, team, taskfile.parse(example))
    assert [r["name"] for r in task.roster][:2] == ["Ada", "Grace"] and len(task.roster) == 6
    assert task.acceptance[1].endswith("check: `python -m pytest -q`")
