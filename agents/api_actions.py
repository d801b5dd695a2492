"""The agents app's JSON endpoints for what the pages do to tasks, agents and taste guides besides writing and
launching: edit and delete a task, its judge panel, broadcast, stop all, act on many agents, one agent's controls,
and the taste guides.

Each handler calls the service its page calls (agents/services.py, agents/task_setup.py, agents/bulk.py), so a
rule has one home; agents/api_actions_urls.py lists the routes with their shapes.
"""

from __future__ import annotations

from agents import bulk, fleet, services, task_setup
from agents.api import _agent, _task, agent_json, task_form, task_json
from agents.api_base import FieldError, owned, request_team
from agents.api_lists import paged
from agents.forms import TasteGuideForm
from agents.models import Agent, TasteGuide

# ---------------------------------------------------------------- tasks


def task_update(request, data: dict, pk: int) -> dict:
    task = _task(request, pk)
    return task_json(task_setup.save_task(request.user, task_form(task.team, data, task)))


def task_delete(request, pk: int) -> dict:
    task = _task(request, pk)
    title = task_setup.delete_task(request.user, task)
    return {"id": pk, "title": title, "deleted": True}


def panel_json(task) -> dict:
    return {
        "judges": sorted(task.judge_profiles.values_list("name", flat=True)),
        "rule": task.judge_rule,
        "auto_approve": task.auto_approve,
    }


def task_panel(request, pk: int) -> dict:
    return panel_json(_task(request, pk))


def task_panel_update(request, data: dict, pk: int) -> dict:
    task = _task(request, pk)
    now = panel_json(task)
    task = task_setup.save_panel(
        request.user,
        task,
        data.get("judges", now["judges"]),
        data.get("rule", now["rule"]),
        data.get("auto_approve", now["auto_approve"]),
    )
    return panel_json(task)


def task_broadcast(request, data: dict, pk: int) -> dict:
    task = _task(request, pk)
    return {"task": task.pk, "sent": services.broadcast_message(task, data["text"], request.user)}


def task_stop_all(request, pk: int) -> dict:
    task = _task(request, pk)
    return {"task": task.pk, "stopped": services.stop_all(task, request.user.username)}


def task_act(request, data: dict, pk: int) -> dict:
    """One action on the agents named by id, on all the task's agents, or on those a table filter keeps; ids that are
    not the task's refuse the whole request, as on the task page."""
    task = _task(request, pk)
    agents = task.agents.select_related("task", "profile")
    if "ids" in data:
        ids = set(data["ids"])
        agents = list(agents.filter(pk__in=ids))
        if not ids:
            raise FieldError("ids", "is empty: name some agents, or send `all: true`.")
        if len(agents) != len(ids):
            raise FieldError(
                "ids", f"has {len(ids) - len(agents)} ids that are not agents of this task; nothing was done."
            )
    elif data.get("all"):
        agents = list(agents.order_by("id"))
    elif "filter" in data:  # the page's "all that match the filter"
        f = data["filter"]
        view = fleet.TableView(f.get("status", ""), f.get("profile"), f.get("family", ""), f.get("q", "").strip())
        agents = list(view.apply(agents).order_by("id"))
    else:
        raise FieldError("ids", "is needed (or `all: true`, or a `filter`): which agents to act on.")
    outcome = bulk.act(
        request.user, task.team_id, data["action"], agents, data.get("text", ""), data.get("client_id", "")
    )
    return {
        "action": outcome.action,
        "done": outcome.done,
        "skipped": [{"reason": many, "count": n} for (_, many), n in outcome.skipped.items()],
        "refused": outcome.errors,
        "summary": str(outcome),
    }


# ---------------------------------------------------------------- one agent's controls


def _control(request, pk: int, act) -> dict:
    agent = _agent(request, pk)
    note = act(agent, request.user.username)
    answer = agent_json(Agent.objects.select_related("task", "profile").get(pk=agent.pk))
    return {**answer, "note": note or ""}


def agent_stop(request, pk: int) -> dict:
    return _control(request, pk, services.stop)


def agent_pause(request, pk: int) -> dict:
    return _control(request, pk, services.pause)


def agent_grant(request, pk: int) -> dict:
    return _control(request, pk, lambda agent, by: services.granted(agent, services.grant_budget(agent, by)))


def agent_resume(request, pk: int) -> dict:
    return _control(request, pk, lambda agent, by: services.resume(agent, f"resumed by {by}"))


def agent_cleanup(request, data: dict, pk: int) -> dict:
    delete_branch = data.get("delete_branch", False)
    return _control(request, pk, lambda agent, by: "Cleaned up: " + services.clean_up(agent, by, delete_branch))


# ---------------------------------------------------------------- taste guides


def guide_json(g: TasteGuide) -> dict:
    return {"id": g.pk, "name": g.name, "rules": g.rules}


def _guide(request, pk: int) -> TasteGuide:
    return owned(request, TasteGuide.objects, pk, "taste guide")


def _save_guide(request, guide: TasteGuide, data: dict) -> dict:
    rules = data.get("rules", guide.rules)
    for i, rule in enumerate(rules):
        if "\n" in rule or "\r" in rule:
            raise FieldError(f"rules[{i}]", "must be one line: send each rule as its own item.")
    form = TasteGuideForm({"name": data.get("name", guide.name), "rules_text": "\n".join(rules)}, instance=guide)
    if not form.is_valid():
        name, messages = next(iter(form.errors.items()))
        raise FieldError("rules" if name == "rules_text" else name, " ".join(messages))
    return guide_json(task_setup.save_taste_guide(request.user, form))


def taste_list(request) -> dict:
    return paged(request, TasteGuide.objects.for_user(request.user).order_by("name", "id"), "taste_guides", guide_json)


def taste_create(request, data: dict):
    guide = TasteGuide(team=request_team(request, data.get("team")))
    return _save_guide(request, guide, data)


def taste_detail(request, pk: int) -> dict:
    return guide_json(_guide(request, pk))


def taste_update(request, data: dict, pk: int) -> dict:
    return _save_guide(request, _guide(request, pk), data)


def taste_delete(request, pk: int) -> dict:
    guide = _guide(request, pk)
    task_setup.delete_taste_guide(request.user, guide)
    return {"id": pk, "name": guide.name, "deleted": True}
