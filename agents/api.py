"""The agents app's JSON endpoints: repositories, model profiles, tasks, agents, their events and messages.

Each handler is small and goes through the same services and form rules as the pages; agents/api_urls.py lists
them with their schemas, which is where the URLs and the OpenAPI document come from.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q

from agents import model_access, scheduling, services, worktrees
from agents.api_base import (
    FieldError,
    build_openapi,
    int_query,
    owned,
    request_team,
)
from agents.forms import TaskFieldsForm, clean_acceptance, clean_roster
from agents.models import Agent, Event, Message, ModelProfile, Repository, Skill, TaskSpec, TasteGuide
from agents.services import ServiceError

PAGE = 500  # tasks or events per answer; `next_after` pages through events

# ---------------------------------------------------------------- how objects look in answers


def _time(value) -> str | None:
    return value.isoformat() if value else None


def repo_json(repo: Repository) -> dict:
    return {
        "id": repo.pk,
        "name": repo.name,
        "path": repo.path,
        "default_branch": repo.default_branch,
        "verify_command": repo.verify_command,
    }


def profile_json(p: ModelProfile) -> dict:
    return {
        "id": p.pk,
        "name": p.name,
        "model": p.model,
        "api_base": p.api_base,
        "api_key_env": p.api_key_env,  # the variable's name; its value is never read here
        "family": p.family,
        "simulated": p.simulated,
    }


def agent_summary_json(a: Agent) -> dict:
    return {
        "id": a.pk,
        "name": a.name,
        "model": a.profile.name,
        "simulated": a.profile.simulated,
        "status": a.status,
        "status_reason": a.status_reason,
        "activity": a.activity,
        "branch": a.branch,
        "usage": {
            "tokens_in": a.tokens_in,
            "tokens_out": a.tokens_out,
            "tokens": a.tokens,
            "cost_usd": float(a.cost_usd),
            "elapsed_seconds": round(a.elapsed_seconds, 3),
            "steps": a.steps,
            "nudges": a.nudges,
        },
    }


def agent_json(a: Agent) -> dict:
    return {
        **agent_summary_json(a),
        "task": {"id": a.task_id, "title": a.task.title},
        "budget": {
            "minutes": a.budget_minutes,
            "tokens": a.budget_tokens,
            "usd": float(a.budget_usd),
            "used": {k: round(v, 4) for k, v in a.budget_fraction().items()},
        },
        "files_read": a.files_read,
        "files_edited": a.files_edited,
        "created_at": _time(a.created_at),
        "started_at": _time(a.started_at),
        "finished_at": _time(a.finished_at),
    }


def task_summary_json(t: TaskSpec, by_status: dict[str, int]) -> dict:
    return {
        "id": t.pk,
        "title": t.title,
        "repo": {"id": t.repo_id, "name": t.repo.name},
        "created_at": _time(t.created_at),
        "launched_at": _time(t.launched_at),
        "agents_by_status": by_status,
    }


def task_json(t: TaskSpec) -> dict:
    agents = list(t.agents.select_related("profile"))
    by_status: dict[str, int] = {}
    for a in agents:
        by_status[a.status] = by_status.get(a.status, 0) + 1
    return {
        **task_summary_json(t, by_status),
        "goal": t.goal,
        "context": t.context,
        "acceptance": t.acceptance,
        "verify_command": t.verify_command,
        "budget": {"minutes": t.budget_minutes, "tokens": t.budget_tokens, "usd": float(t.budget_usd)},
        "roster": [{"name": r["name"], "model": r["profile"]} for r in t.roster],
        "taste_guides": sorted(t.taste_guides.values_list("name", flat=True)),
        "skills": sorted(t.skills.values_list("name", flat=True)),
        "agents": [agent_summary_json(a) for a in agents],
        "usage": {
            "tokens": sum(a.tokens for a in agents),
            "cost_usd": float(sum(a.cost_usd for a in agents)),
            "steps": sum(a.steps for a in agents),
        },
    }


def message_json(m: Message) -> dict:
    return {
        "id": m.pk,
        "agent": m.agent_id,
        "text": m.text,
        "mode": m.mode,
        "state": m.state,
        "client_msg_id": m.client_msg_id,
        "created_at": _time(m.created_at),
        "delivered_at": _time(m.delivered_at),
        "answered_at": _time(m.answered_at),
    }


# ---------------------------------------------------------------- handlers


def health(request) -> dict:
    return {"status": "ok", "mode": scheduling.backend_class().mode}


def openapi(request) -> dict:
    return build_openapi()


def repos_list(request) -> dict:
    repos = Repository.objects.for_user(request.user).order_by("name", "id")
    return {"repos": [repo_json(r) for r in repos]}


def check_repo_location(path: str) -> Path:
    """The resolved path if an operator allowed repositories there (SWARM_REPO_ROOTS), outside Swarm's own data and
    checkout. Checked before any git command runs there: git reads a repository's config as it opens it."""
    where = Path(path)
    if not where.is_absolute():
        raise FieldError("path", "must be an absolute path on the server.")
    where = where.resolve()
    # agents of this team would read whatever the repository holds: not an agent's worktree, not Swarm's own files
    if where.is_relative_to(Path(settings.WORKTREES_DIR).resolve()):
        raise FieldError("path", "is an agent's worktree; give the repository it was made from.")
    for own, what in ((settings.DATA_DIR, "data directory"), (settings.BASE_DIR, "own checkout")):
        own = Path(own).resolve()
        if where.is_relative_to(own) or own.is_relative_to(where):
            raise FieldError("path", f"is or holds Swarm's {what}, which agents must never read.")
    roots = [Path(root).resolve() for root in settings.SWARM_REPO_ROOTS]
    if not roots:
        raise FieldError(
            "path",
            "cannot be registered: this server allows no repository directories (an operator sets SWARM_REPO_ROOTS).",
        )
    if not any(where.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise FieldError("path", f"is outside the directories this server allows repositories in: {allowed}.")
    if not where.is_dir():
        raise FieldError("path", "is not a directory on the server.")
    return where


def repos_create(request, data: dict):
    team = request_team(request, data.get("team"))
    where = check_repo_location(data["path"])
    enclosing = next((p for p in where.parents if (p / ".git").exists()), None)
    if not (where / ".git").exists() and enclosing is not None:
        raise FieldError("path", f"is inside the git repository at {enclosing}; give that top-level directory.")
    try:
        top = worktrees.git(where, "rev-parse", "--show-toplevel").strip()
    except worktrees.GitError as exc:
        raise FieldError("path", f"is not a git repository with a working tree (git says: {exc}).") from None
    if Path(top).resolve() != where:
        raise FieldError("path", f"is inside the git repository at {top}; give that top-level directory.")
    if Repository.objects.filter(path=str(where)).exclude(team=team).exists():
        raise FieldError("path", "is a repository of another team; ask an admin to share it.")
    try:
        branch = worktrees.git(where, "symbolic-ref", "--short", "-q", "HEAD").strip() or "main"
    except worktrees.GitError:
        branch = "main"  # detached HEAD: assume the usual name
    name = data["name"].strip()
    try:
        with transaction.atomic():
            repo = Repository.objects.create(
                team=team,
                name=name,
                path=str(where),
                default_branch=branch,
                verify_command=data.get("verify_command", "").strip(),
            )
    except IntegrityError:
        raise ServiceError(f"Your team already has a repository named “{name}”.", 409) from None
    return repo_json(repo)


PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def models_list(request) -> dict:
    profiles = ModelProfile.objects.for_user(request.user).order_by("name", "id")
    return {"models": [profile_json(p) for p in profiles]}


def models_create(request, data: dict):
    team = request_team(request, data.get("team"))
    name, model = data["name"].strip(), data["model"].strip()
    api_base, key_env = data.get("api_base", "").strip(), data.get("api_key_env", "").strip()
    if not PROFILE_NAME.match(name):
        raise FieldError("name", "must start with a letter or digit and use only letters, digits, '.', '_' or '-'.")
    if any(c.isspace() for c in model):
        raise FieldError("model", "must not contain spaces (e.g. openai/gpt-4o or sim/diligent).")
    try:  # the operator's settings decide which key variables, hosts and providers a profile may use
        model_access.check(model, api_base, key_env)
    except model_access.ProfileRefused as refused:
        raise FieldError(refused.field, refused.message) from None
    family = data.get("family", "").strip() or ("simulator" if model.startswith("sim/") else model.split("/")[0])
    try:
        with transaction.atomic():
            profile = ModelProfile.objects.create(
                team=team, name=name, model=model, api_base=api_base, api_key_env=key_env, family=family
            )
    except IntegrityError:
        raise ServiceError(f"Your team already has a model profile named “{name}”.", 409) from None
    return profile_json(profile)


def tasks_list(request) -> dict:
    tasks = list(TaskSpec.objects.for_user(request.user).select_related("repo").order_by("-created_at")[:PAGE])
    by_status: dict[int, dict[str, int]] = {}
    rows = Agent.objects.filter(task__in=tasks).values("task_id", "status").annotate(n=Count("id"))
    for row in rows:
        by_status.setdefault(row["task_id"], {})[row["status"]] = row["n"]
    return {"tasks": [task_summary_json(t, by_status.get(t.pk, {})) for t in tasks]}


_FORM_FIELDS = {"budget_minutes": "budget.minutes", "budget_tokens": "budget.tokens", "budget_usd": "budget.usd"}


def _names_to_ids(model, team, names: list[str], where: str) -> list[int]:
    found = dict(model.objects.filter(team=team, name__in=names).values_list("name", "pk"))
    missing = [n for n in names if n not in found]
    if missing:
        raise FieldError(where, f"has names your team does not have: {', '.join(missing)}.")
    return [found[n] for n in names]


def tasks_create(request, data: dict):
    team = request_team(request, data.get("team"))
    ref = data["repo"]
    repo = Repository.objects.filter(team=team).filter(Q(name=ref) if isinstance(ref, str) else Q(pk=ref)).first()
    if repo is None:
        raise FieldError("repo", f"is not a repository of your team ({ref!s}); add it with POST /api/repos.")
    defaults = {f.name: f.default for f in TaskSpec._meta.get_fields() if f.name.startswith("budget_")}
    budget = data.get("budget", {})
    form = TaskFieldsForm(
        {
            "title": data["title"],
            "repo": repo.pk,
            "goal": data["goal"],
            "context": data.get("context", ""),
            "verify_command": data.get("verify_command", ""),
            "budget_minutes": budget.get("minutes", defaults["budget_minutes"]),
            "budget_tokens": budget.get("tokens", defaults["budget_tokens"]),
            "budget_usd": str(budget.get("usd", defaults["budget_usd"])),
            "taste_guides": _names_to_ids(TasteGuide, team, data.get("taste_guides", []), "taste_guides"),
            "skills": _names_to_ids(Skill, team, data.get("skills", []), "skills"),
        },
        team=team,
    )
    if not form.is_valid():
        problems = [(_FORM_FIELDS.get(f, f), " ".join(msgs)) for f, msgs in form.errors.items()]
        error = FieldError(*problems[0])
        error.message = "; ".join(f"{f}: {m}" for f, m in problems)  # every problem at once, the first named
        raise error
    try:
        form.instance.acceptance = clean_acceptance(data["acceptance"])
    except ValidationError as exc:
        raise FieldError("acceptance", " ".join(exc.messages)) from None
    try:
        form.instance.roster = clean_roster([(a["name"].strip(), a["model"].strip()) for a in data["agents"]], team)
    except ValidationError as exc:
        raise FieldError("agents", " ".join(exc.messages)) from None
    form.instance.created_by = request.user
    with transaction.atomic():
        task = form.save()
    return task_json(task)


def _task(request, pk: int) -> TaskSpec:
    return owned(request, TaskSpec.objects.select_related("repo"), pk, "task")


def _agent(request, pk: int) -> Agent:
    return owned(request, Agent.objects.select_related("task", "profile"), pk, "agent")


def task_detail(request, pk: int) -> dict:
    return task_json(_task(request, pk))


def task_launch(request, pk: int) -> dict:
    task = _task(request, pk)
    agents = services.launch_task(task)
    return {"task": task.pk, "agents": [agent_summary_json(a) for a in agents]}


def agent_detail(request, pk: int) -> dict:
    return agent_json(_agent(request, pk))


def agent_events(request, pk: int) -> dict:
    """The agent's log as the browser replays it: every event after `after`, in seq order, a page at a time."""
    agent = _agent(request, pk)
    after = int_query(request, "after", 0)
    events = list(Event.objects.filter(agent=agent, seq__gt=after).order_by("seq")[: PAGE + 1])
    more, events = len(events) > PAGE, events[:PAGE]
    ids = [e.payload.get("message_id") for e in events if e.kind == "message"]
    states = dict(Message.objects.filter(agent=agent, pk__in=ids).values_list("pk", "state")) if ids else {}
    items = []
    for e in events:
        item = {"seq": e.seq, "kind": e.kind, "payload": e.payload, "created_at": _time(e.created_at)}
        if e.kind == "message":
            item["message_state"] = states.get(e.payload.get("message_id"), Message.State.QUEUED)
        items.append(item)
    return {"events": items, "next_after": events[-1].seq if events else after, "more": more}


def agent_message(request, data: dict, pk: int):
    agent = _agent(request, pk)
    message = services.inject_message(
        agent,
        data["text"],
        author=request.user,
        mode=data.get("mode", Message.Mode.QUEUE),
        client_msg_id=data.get("client_msg_id"),
    )
    return message_json(message)  # a resent client_msg_id answers like the first time (201, same message)
