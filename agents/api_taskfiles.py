"""Task files and SWE-bench instances over the JSON API: the task file's JSON Schema, a task made from a file's text,
a task written out as a file, and SWE-bench instances imported as tasks (agents/taskfile.py, agents/swebench.py).

Its route table, ROUTES, is part of agents/api_urls.py's.
"""

from __future__ import annotations

from agents import swebench, taskfile
from agents.api import task_json
from agents.api_base import STRING, TEAM_REF, Operation, Route, body, obj, owned, request_team, text
from agents.api_schemas import TASK
from agents.errors import FieldError
from agents.models import TaskSpec
from agents.taskfile_schema import MAX_BYTES, SCHEMA


def schema(request) -> dict:
    return SCHEMA


def taskfile_create(request, data: dict):
    """A task from a task file's text (YAML or JSON); the file may name its team, the body too."""
    parsed = taskfile.parse(data["text"])
    team = request_team(request, data.get("team", parsed.get("team")))
    return task_json(taskfile.save(request.user, team, parsed))


def taskfile_export(request, pk: int) -> dict:
    fmt = request.GET.get("format", "yaml")
    if fmt not in {"yaml", "json"}:
        raise FieldError("format", "must be yaml or json.")
    exported = taskfile.export(owned(request, TaskSpec.objects.select_related("repo"), pk, "task"))
    return {"format": fmt, "text": taskfile.dump(exported, fmt), "taskfile": exported}


def swebench_import(request, data: dict):
    """Every instance of a SWE-bench JSON or JSONL file as a task; `defaults` (task file fields) fill the rest."""
    defaults = data.get("defaults", {})
    team = request_team(request, data.get("team", defaults.get("team")))
    tasks = swebench.import_instances(request.user, team, data["text"], defaults, data.get("repository"))
    return {"tasks": [task_json(t) for t in tasks]}


FILE_TEXT = text(MAX_BYTES, 1, description="the file's text")
INSTANCE_GIVES = {"repository", "title", "goal", "acceptance", "verify"}
DEFAULTS = {
    **body([], **{k: v for k, v in SCHEMA["properties"].items() if k not in INSTANCE_GIVES}),
    "description": "task file fields every instance's task takes (roster, judges, rule, budgets, policy, taste,"
    " skills); the instance gives repository, title, goal, acceptance, verify and policy.target_branch",
}
ROUTES = [
    Route(
        "taskfile.schema.json",
        "api_taskfile_schema",
        get=Operation(schema, "The task file's JSON Schema (YAML or JSON task files)", {"type": "object"}, auth="none"),
    ),
    Route(
        "taskfiles",
        "api_taskfiles",
        post=Operation(
            taskfile_create,
            "Write a task from a task file (YAML or JSON, see /api/taskfile.schema.json)",
            TASK,
            status=201,
            body=body(["text"], team=TEAM_REF, text=FILE_TEXT),
            errors=(413,),
            action="edit_task",
        ),
    ),
    Route(
        "tasks/<int:pk>/taskfile",
        "api_task_taskfile",
        get=Operation(
            taskfile_export,
            "The task as a task file: its text in the format asked for, and its fields",
            obj("TaskFile", format=STRING, text=STRING, taskfile={"type": "object"}),
            query={"format": {"type": "string", "enum": ["yaml", "json"], "description": "yaml (default) or json"}},
        ),
    ),
    Route(
        "swebench",
        "api_swebench",
        post=Operation(
            swebench_import,
            "Import SWE-bench instances (JSON or JSONL) as tasks on the team's repository, each on branch"
            " swe/<instance_id> at its base commit with its test patch",
            obj(tasks={"type": "array", "items": TASK}),
            status=201,
            body=body(
                ["text"],
                team=TEAM_REF,
                text=FILE_TEXT,
                repository=text(
                    100, 1, description="the team's repository; default: the one each instance's repo names"
                ),
                defaults=DEFAULTS,
            ),
            errors=(409, 413),
            action="edit_task",
        ),
    ),
]
