"""Tasks as files: a YAML (or JSON) task file read into a task, and any task written out in the same format.

Reading a file checks its structure against the one schema (agents/taskfile_schema.py), turns its names into the
team's objects, and hands the page's own form (TaskSpecForm) what a person would have typed, so a file obeys every
rule the task page does and saves through task_setup.save_task like it. Writing is the reverse, and a written file
read back makes the same task (tests/test_taskfile.py).

The format, field by field, is in README.md ("Task files") and published as JSON Schema at /api/taskfile.schema.json.
"""

from __future__ import annotations

import json
import re

import yaml

from agents import roster as roster_generator
from agents import task_setup, worktrees
from agents.api_base import check
from agents.errors import FieldError, InvalidForm
from agents.forms import TaskSpecForm, planner_json
from agents.models import PLANNER_LIMITS, ModelProfile, Repository, TaskSpec
from agents.permissions import grants
from agents.taskfile_schema import MAX_BYTES, SCHEMA, VERSION

GENERATOR = re.compile(r"^\s*(\d{1,4})\s*[x×]\s*(\S+)\s*$")
# the form's field -> where it is in a task file, so a refusal names what the person wrote
WHERE = {
    "repo": "repository",
    "verify_command": "verify",
    "acceptance_text": "acceptance",
    "roster_text": "roster",
    "taste_guides": "taste",
    "judge_profiles": "judges",
    "judge_rule": "rule",
    "budget_minutes": "budgets.minutes",
    "budget_tokens": "budgets.tokens",
    "budget_usd": "budgets.usd",
    "auto_approve": "policy.auto_approve",
    "best_of_n": "policy.best_of_n",
    "target_branch": "policy.target_branch",
    "planner_profile": "planner.model",
    "planner_workers": "planner.workers",
    "planner_max_workers": "planner.max_workers",
    "planner_max_depth": "planner.max_depth",
}


class _Loader(yaml.SafeLoader):
    """safe_load's loader without anchors and aliases: a few lines of aliases can stand for billions of values (a
    "billion laughs"), which the checks would then walk. A task file never needs them."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(problem="uses an alias (*name)", problem_mark=event.start_mark)
        return super().compose_node(parent, index)


def parse(text: str | bytes) -> dict:
    """A task file's text (YAML, of which JSON is a part) -> its checked structure; FieldError says what is wrong."""
    if len(text) > MAX_BYTES:
        raise FieldError("file", f"is larger than the {MAX_BYTES:,} bytes a task file may have.", 413)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise FieldError("file", "is not UTF-8 text.") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # SafeLoader: plain data, no tags that build objects
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        raise FieldError("file", f"is not valid YAML or JSON{at}.") from None
    except RecursionError:
        raise FieldError("file", "is nested too deeply.") from None
    if not isinstance(data, dict):
        raise FieldError("file", "must be a mapping of fields (repository, title, goal, ...), not a single value.")
    if any(not isinstance(key, str) for key in data):
        raise FieldError("file", "has a field whose name is not text.")
    _no_dates(data)
    check(data, SCHEMA)
    return data


def _no_dates(value, where: str = "") -> None:
    """YAML reads `2024-01-01` as a date; the schema's types are JSON's, so such a value is refused by name."""
    if isinstance(value, dict):
        for key, item in value.items():
            _no_dates(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _no_dates(item, f"{where}[{i}]")
    elif not isinstance(value, str | int | float | bool | type(None)):
        raise FieldError(where or "file", "must be text, a number, true/false or a list: quote it.")


def form_for(user, team, data: dict, instance: TaskSpec | None = None) -> TaskSpecForm:
    """The task page's form filled from a checked task file, as if a person had typed it."""
    policy = grants(user, team.pk).set_policy
    if not policy:
        _same_policy(team, data, instance)
    repo = Repository.objects.in_team(team).filter(name=data["repository"]).first()
    if repo is None:
        raise FieldError("repository", "is not a repository of your team; add it on the Repositories page first.")
    budgets, rules, planner = data.get("budgets", {}), data.get("policy", {}), data.get("planner") or {}
    given = {
        "title": data["title"],
        "goal": data["goal"],
        "context": data.get("context", ""),
        "verify_command": data.get("verify", ""),
        "best_of_n": bool(rules.get("best_of_n")),
        "taste_guides": data.get("taste", []),
        "skills": data.get("skills", []),
        **{f"budget_{k}": v for k, v in budgets.items()},  # the others: a new task's defaults
    }
    fields = {
        "repo": repo.pk,
        **task_setup.own_fields(team, given, where=WHERE),
        "judge_profiles": task_setup.names_to_ids(ModelProfile, team, data.get("judges", []), "judges"),
        "judge_rule": data.get("rule", "unanimous"),
        "target_branch": rules.get("target_branch", ""),
        "acceptance_text": "\n".join(c.replace("\n", " ") for c in data["acceptance"]),
        "roster_text": roster_lines(data.get("roster", []), team),
        "planner_profile": planner.get("model", ""),
        "planner_workers": planner.get("workers", []),
        "planner_max_workers": planner.get("max_workers", PLANNER_LIMITS["max_workers"].default),
        "planner_max_depth": planner.get("max_depth", PLANNER_LIMITS["max_depth"].default),
    }
    if rules.get("auto_approve"):
        fields["auto_approve"] = "on"  # a checkbox: present when ticked
    return TaskSpecForm(fields, instance=instance, team=team, policy=policy)


def _same_policy(team, data: dict, instance: TaskSpec | None) -> None:
    """Without an admin's role the review policy stays as the task page would keep it (for a new task the team's
    judge profiles, unanimous, no auto-approve): a file that says otherwise is refused, not silently overruled."""
    shown = TaskSpecForm(team=team, instance=instance, policy=False).initial
    judges = [getattr(p, "pk", p) for p in shown.get("judge_profiles") or []]
    kept = {
        "judges": sorted(ModelProfile.objects.filter(pk__in=judges).values_list("name", flat=True)),
        "rule": shown.get("judge_rule") or "unanimous",
        "policy.auto_approve": bool(shown.get("auto_approve")),
    }
    wanted = {
        "judges": sorted(data["judges"]) if "judges" in data else kept["judges"],
        "rule": data.get("rule", kept["rule"]),
        "policy.auto_approve": data.get("policy", {}).get("auto_approve", kept["policy.auto_approve"]),
    }
    for where, value in kept.items():
        if wanted[where] != value:
            raise FieldError(where, "is set by a team admin: leave it out, or ask an admin to import the file.", 403)


def roster_lines(entries: list, team) -> str:
    """The roster as the form's lines ("Name = profile"); generator lines ("4 x sim-diligent") become agents named
    from the default names list, skipping the names the file gives itself."""
    named, wanted = [], []
    for entry in entries:
        if isinstance(entry, dict):
            named.append(f"{entry['name']} = {entry['profile']}")
        elif found := GENERATOR.match(entry):
            wanted.append((found.group(1), found.group(2)))
        else:
            named.append(entry)  # "Name = profile", or what the form refuses by quoting it
    if wanted:
        taken = {worktrees.slug(line.partition("=")[0].strip()) for line in named}
        names = " ".join(n for n in roster_generator.default_names().split() if worktrees.slug(n) not in taken)
        gen = roster_generator.generate(roster_generator.Generator(rows=wanted, names=names, profiles=[]))
        if gen.errors:
            raise FieldError("roster", " ".join(gen.errors))
        named.append(gen.lines)
    return "\n".join(named)


def save(user, team, data: dict, instance: TaskSpec | None = None) -> TaskSpec:
    """A checked task file saved as a new task (or over `instance`) through the task page's rules; a refusal names
    the task file's field (every problem in one sentence, the first one named)."""
    form = form_for(user, team, data, instance)
    if not form.is_valid():
        raise InvalidForm(form, names=WHERE)
    return task_setup.save_task(user, form)


def export(task: TaskSpec) -> dict:
    """A task as a task file (the structure `parse` reads): reading it back makes the same task."""
    return {
        "version": VERSION,
        "repository": task.repo.name,
        "title": task.title,
        "goal": task.goal,
        "context": task.context,
        "acceptance": list(task.acceptance),
        "verify": task.verify_command,
        "taste": sorted(task.taste_guides.values_list("name", flat=True)),
        "skills": sorted(task.skills.values_list("name", flat=True)),
        "roster": [{"name": r["name"], "profile": r["profile"]} for r in task.roster],
        "planner": planner_json(task.planner),
        "judges": sorted(task.judge_profiles.values_list("name", flat=True)),
        "rule": task.judge_rule,
        "budgets": {"minutes": task.budget_minutes, "tokens": task.budget_tokens, "usd": float(task.budget_usd)},
        "policy": {"auto_approve": task.auto_approve, "best_of_n": task.best_of_n, "target_branch": task.target_branch},
    }


def dump(data: dict, fmt: str = "yaml") -> str:
    """A task file's text: YAML (block style, keys in the format's order) or JSON."""
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)


def schema_json() -> str:
    """The published JSON Schema's text (docs/taskfile.schema.json holds this)."""
    return json.dumps(SCHEMA, indent=2, ensure_ascii=False) + "\n"
