"""The agents app's JSON endpoints: repositories, model profiles, tasks, agents, their events and messages.

Each handler is small and goes through the same services and form rules as the pages; agents/api_urls.py lists
them with their schemas, which is where the URLs and the OpenAPI document come from.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Count, Q

from agents import api_lists, cloning, messaging, receipts, scheduling, services, task_setup, team_setup
from agents.api_base import (
    FieldError,
    build_openapi,
    int_query,
    owned,
    request_team,
)
from agents.api_lists import paged
from agents.errors import InvalidForm
from agents.forms import (
    TaskFieldsForm,
    check_best_of,
    clean_acceptance,
    clean_planner,
    clean_roster,
    planner_json,
)
from agents.models import PLANNER_LIMITS, Agent, Event, Message, ModelProfile, Repository, TaskSpec
from agents.setup_forms import ModelProfileForm

PAGE = 500  # events per answer; `next_after` pages through them

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
        "url": repo.url,
        "credential": repo.credential,
        "clone_status": repo.clone_status,
        "clone_progress": repo.clone_progress,
        "clone_detail": repo.clone_detail,
        "fetched_at": repo.fetched_at.isoformat() if repo.fetched_at else None,
    }


def profile_json(p: ModelProfile) -> dict:
    return {
        "id": p.pk,
        "name": p.name,
        "model": p.model,
        "api_base": p.api_base,
        "api_key_env": p.api_key_env,  # the variable's name; its value is never read here
        "family": p.family,
        "context_window": p.context_window,
        "input_usd_per_mtok": _number(p.input_usd_per_mtok),
        "output_usd_per_mtok": _number(p.output_usd_per_mtok),
        "requests_per_minute": p.requests_per_minute,
        "investigates": p.investigates,
        "simulated": p.simulated,
    }


def _number(value) -> float | None:
    return None if value is None else float(value)


def agent_summary_json(a: Agent) -> dict:
    return {
        "id": a.pk,
        "name": a.name,
        "model": a.profile.name,
        "simulated": a.profile.simulated,
        "status": a.status,
        "status_reason": a.status_reason,
        "waiting_for": a.waiting_for,
        "question": a.question,
        "activity": a.activity,
        "branch": a.branch,
        "spawned_by": a.parent_id,
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
    stop = a.budget_stop()
    return {
        **agent_summary_json(a),
        "task": {"id": a.task_id, "title": a.task.title},
        "budget": {
            "minutes": a.budget_minutes,
            "tokens": a.budget_tokens,
            "usd": float(a.budget_usd),
            "used": {k: round(v, 4) for k, v in a.budget_fraction().items()},
            "used_up": str(stop or ""),
            "grant_to": {"id": stop.planner_id, "name": stop.planner} if stop and stop.grant_to else None,
        },
        "files_read": a.files_read,
        "files_edited": a.files_edited,
        "role": a.role,
        "parent": {"id": a.parent_id, "name": a.parent.name} if a.parent_id else None,
        "subtask": a.subtask or None,
        "handoff": a.handoff,
        "cycle": a.cycle,
        "created_at": _time(a.created_at),
        "started_at": _time(a.started_at),
        "finished_at": _time(a.finished_at),
    }


def event_json(e: Event) -> dict:
    """One event of an agent's log; a message's with its receipt (give the events `receipts.with_receipts` first)."""
    item = {"seq": e.seq, "kind": e.kind, "payload": e.payload, "created_at": _time(e.created_at)}
    if e.kind == Event.Kind.MESSAGE:
        item["message_state"] = receipts.receipt(e)
    return item


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
        "best_of_n": t.best_of_n,
        "planner": planner_json(t.planner),
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
    return paged(request, Repository.objects.for_user(request.user).order_by("name", "id"), "repos", repo_json)


def _form_data(data: dict, fields: tuple[str, ...]) -> dict:
    """A JSON body as the form reads a POST: absent or null is empty, numbers as their text."""
    return {f: "" if data.get(f) is None else str(data[f]) for f in fields}


def repos_create(request, data: dict):
    team = request_team(request, data.get("team"))
    fields = _form_data(data, ("name", "path", "url", "credential", "verify_command"))
    fields["source"] = "url" if fields["url"] else "path"
    return repo_json(team_setup.create_repository(request.user, team, fields))


def repo_detail(request, pk: int) -> dict:
    return repo_json(owned(request, Repository.objects, pk, "repository"))


def repo_fetch(request, pk: int) -> dict:
    """Fetch a clone again (or clone a failed one again), in the background: the answer shows it queued."""
    return repo_json(cloning.refresh(request.user, owned(request, Repository.objects, pk, "repository")))


def models_list(request) -> dict:
    return paged(request, ModelProfile.objects.for_user(request.user).order_by("name", "id"), "models", profile_json)


def models_create(request, data: dict):
    team = request_team(request, data.get("team"))
    fields = tuple(ModelProfileForm.Meta.fields)
    return profile_json(team_setup.create_model_profile(request.user, team, _form_data(data, fields)))


def tasks_list(request) -> dict:
    tasks = TaskSpec.objects.for_user(request.user).select_related("repo").order_by("-created_at", "-id")
    page = api_lists.page(request, tasks)
    by_status: dict[int, dict[str, int]] = {}
    rows = Agent.objects.filter(task__in=page.items).values("task_id", "status").annotate(n=Count("id"))
    for row in rows:
        by_status.setdefault(row["task_id"], {})[row["status"]] = row["n"]
    return api_lists.answer("tasks", page, lambda t: task_summary_json(t, by_status.get(t.pk, {})))


_FORM_FIELDS = {"budget_minutes": "budget.minutes", "budget_tokens": "budget.tokens", "budget_usd": "budget.usd"}


def tasks_create(request, data: dict):
    team = request_team(request, data.get("team"))
    return task_json(task_setup.save_task(request.user, task_form(team, data)))


def task_form(team, data: dict, task: TaskSpec | None = None) -> TaskFieldsForm:
    """The task form a JSON body makes, checked (a FieldError names the first field at fault): a new task's, or
    a change to `task`, whose current values stand for the fields the body leaves out."""
    if "repo" in data:
        ref = data["repo"]
        repo = Repository.objects.in_team(team).filter(Q(name=ref) if isinstance(ref, str) else Q(pk=ref)).first()
        if repo is None:
            raise FieldError("repo", f"is not a repository of your team ({ref!s}); add it with POST /api/repos.")
    else:
        repo = task.repo
    given = {k: v for k, v in data.items() if k in task_setup.OWN_FIELDS}
    given.update({f"budget_{k}": v for k, v in data.get("budget", {}).items()})
    form = TaskFieldsForm({"repo": repo.pk, **task_setup.own_fields(team, given, task)}, instance=task, team=team)
    if not form.is_valid():
        raise InvalidForm(form, names=_FORM_FIELDS)  # every problem at once, the first named
    try:
        form.instance.acceptance = clean_acceptance(data["acceptance"] if "acceptance" in data else task.acceptance)
    except ValidationError as exc:
        raise FieldError("acceptance", " ".join(exc.messages)) from None
    if "planner" in data:  # else a new task has none and a change keeps the task's
        conf = data.get("planner") or {}
        try:
            form.instance.planner = clean_planner(
                conf.get("model", "").strip(),
                conf.get("workers", []),
                conf.get("max_workers", PLANNER_LIMITS["max_workers"].default),
                conf.get("max_depth", PLANNER_LIMITS["max_depth"].default),
                team,
            )
        except ValidationError as exc:
            raise FieldError("planner", " ".join(exc.messages)) from None
    entries = [(a["name"].strip(), a["model"].strip()) for a in data["agents"]] if "agents" in data else None
    if entries is None:
        entries = [(r["name"], r["profile"]) for r in task.roster] if task is not None else []
    if not form.instance.planner and not entries:
        raise FieldError("agents", "Name at least one agent, or give a planner.")
    try:
        form.instance.roster = clean_roster(entries, team) if entries else []
    except ValidationError as exc:
        raise FieldError("agents", " ".join(exc.messages)) from None
    try:
        check_best_of(form.instance.best_of_n, form.instance.roster)
    except ValidationError as exc:
        raise FieldError("best_of_n", " ".join(exc.messages)) from None
    return form


def _task(request, pk: int) -> TaskSpec:
    return owned(request, TaskSpec.objects.select_related("repo"), pk, "task")


def _agent(request, pk: int) -> Agent:
    return owned(request, Agent.objects.select_related("task", "profile", "parent"), pk, "agent")


def task_detail(request, pk: int) -> dict:
    return task_json(_task(request, pk))


def task_launch(request, pk: int) -> dict:
    task = _task(request, pk)
    agents = services.launch_task(task)
    return {"task": task.pk, "agents": [agent_summary_json(a) for a in agents]}


def agent_detail(request, pk: int) -> dict:
    """The agent, and what a message to it would do now: the agent page's message form (messaging.offer)."""
    agent = _agent(request, pk)
    offer = messaging.offer(agent, request.user)
    choices = [{"then": then, "label": label} for then, label in offer.choices]
    return {**agent_json(agent), "message_offer": {"when": offer.when, "note": offer.note, "choices": choices}}


def agent_events(request, pk: int) -> dict:
    """The agent's log as the browser replays it: every event after `after`, in seq order, a page at a time."""
    agent = _agent(request, pk)
    after = int_query(request, "after", 0)
    events = list(Event.objects.filter(agent=agent, seq__gt=after).order_by("seq")[: PAGE + 1])
    more, events = len(events) > PAGE, receipts.with_receipts(events[:PAGE])
    items = [event_json(e) for e in events]
    return {"events": items, "next_after": events[-1].seq if events else after, "more": more}


def agent_message(request, data: dict, pk: int):
    """A person's message; what it does by the agent's state is agents/messaging.py's rule, said in `delivery`."""
    agent = _agent(request, pk)
    message, when = messaging.send(
        agent,
        data["text"],
        author=request.user,
        then=data.get("then", messaging.Then.QUEUE),
        mode=data.get("mode", Message.Mode.QUEUE),
        client_msg_id=data.get("client_msg_id"),
    )
    # a resent client_msg_id answers like the first time (201, same message)
    return {**message_json(message), "delivery": {"when": when, "note": messaging.told(agent.name, when)}}
