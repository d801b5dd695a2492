"""A team's tasks and taste guides as people write them: saving and deleting task specs and taste guides,
for the pages and the API.

Deleting them is here too (refused while agents work, or while the audit trail refers to them).
The rules are the forms' (agents/forms.py); each save checks the role, validates, and saves the row with its many-
to-many links in one transaction. Apart from agents/services.py, which holds the changes to the work itself
(launching, agents, events, messages), as agents/team_setup.py holds repositories and model profiles.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import ProtectedError

from agents import scheduling, taste
from agents.errors import FieldError, InvalidForm, ServiceError, refuse_while_working
from agents.forms import TaskFieldsForm, TasteGuideForm, panel_refusal
from agents.models import Agent, ModelProfile, Skill, TaskSpec, TasteGuide
from agents.permissions import require

# a task's own fields (TaskFieldsForm's, the repository aside), as the pages, task files and the API give them
OWN_FIELDS = (
    "title",
    "goal",
    "context",
    "verify_command",
    "best_of_n",
    "budget_minutes",
    "budget_tokens",
    "budget_usd",
    "taste_guides",
    "skills",
)
BY_NAME = {"taste_guides": TasteGuide, "skills": Skill}


def own_fields(team, given: dict, task: TaskSpec | None = None, where: dict[str, str] | None = None) -> dict:
    """TaskFieldsForm's data for a task's own fields from a dict of them (taste guides and skills by name), as the
    API and task files give them: a field left out keeps the task's value (a new task: its default). A name the
    team does not have is refused naming the field as `where` calls it (the caller's own name for it)."""
    if task is None:
        now = {f.name: f.default for f in TaskSpec._meta.get_fields() if f.name.startswith("budget_")}
        now.update(context="", verify_command="", taste_guides=[], skills=[], best_of_n=False)
    else:
        now = {f: getattr(task, f) for f in OWN_FIELDS if f not in BY_NAME}
        now.update({f: list(getattr(task, f).values_list("pk", flat=True)) for f in BY_NAME})
    fields = {}
    for name in OWN_FIELDS:
        value = given[name] if name in given else now.get(name)
        if name in BY_NAME and name in given:
            value = names_to_ids(BY_NAME[name], team, value, (where or {}).get(name, name))
        fields[name] = str(value) if name.startswith("budget_") else value
    return fields


def names_to_ids(model, team, names: list[str], where: str) -> list[int]:
    """The ids of the team's objects of these names, in their order; a name it does not have is refused."""
    found = dict(model.objects.in_team(team).filter(name__in=names).values_list("name", "pk"))
    missing = [n for n in names if n not in found]
    if missing:
        raise FieldError(where, f"has names your team does not have: {', '.join(missing)}.")
    return [found[n] for n in names]


def save_task(by, form: TaskFieldsForm) -> TaskSpec:
    """Write a new task or change one as the form says (the page's TaskSpecForm or the API's TaskFieldsForm, whose
    acceptance criteria and roster the caller has set on the instance); operators and admins only."""
    require(by, form.team.pk, "edit_task")
    if not form.is_valid():
        raise InvalidForm(form)
    if form.instance.pk is None:
        form.instance.created_by = by
        scheduling.expect_steps()  # its launch is likely next: an idle process loads its step (litellm) meanwhile
    with transaction.atomic():  # the row and its taste guides, skills and judges, or none of them
        return form.save()


def save_taste_guide(by, form: TasteGuideForm) -> TasteGuide:
    """Write a new taste guide or change one (its instance names the team), as a new version when its rules changed;
    operators and admins only."""
    require(by, form.instance.team_id, "edit_taste")
    if not form.is_valid():
        raise InvalidForm(form)
    with transaction.atomic():
        guide = form.save()
        taste.current(guide, by)  # changed rules make a new version; launched tasks keep the one they pinned
        return guide


def save_panel(by, task: TaskSpec, judges: list[str], rule: str, auto_approve: bool) -> TaskSpec:
    """The task's judge panel (model profiles by name; none: the team's judge profiles), how its votes combine, and
    auto-approval: the policy fields of the task form, which only admins may set."""
    require(by, task.team_id, "set_policy")
    rules = [r for r, _ in TaskSpec._meta.get_field("judge_rule").choices]
    if rule not in rules:
        raise FieldError("rule", f"must be one of: {', '.join(rules)}.")
    profiles = list(ModelProfile.objects.in_team(task.team_id).filter(name__in=judges))
    missing = sorted(set(judges) - {p.name for p in profiles})
    if missing:
        raise FieldError("judges", f"has names your team does not have: {', '.join(missing)}.")
    refusal = panel_refusal(profiles, task.roster, task.team_id)
    if refusal:
        raise FieldError("judges", refusal)
    with transaction.atomic():
        task = TaskSpec.objects.select_for_update().get(pk=task.pk)
        task.judge_rule, task.auto_approve = rule, auto_approve
        task.save(update_fields=["judge_rule", "auto_approve"])
        task.judge_profiles.set(profiles)
    return task


def delete_task(by, task: TaskSpec) -> str:
    """Delete a task with its agents, their logs and messages; their branches stay in the repository.

    Refused (409) while an agent still works, and while a record of a review refers to its agents: verdicts and
    the decisions on them are the audit trail of what was merged and by whom. The app that keeps those records
    protects its rows (on_delete=PROTECT), so no code path deletes them; this only says so. Returns the title.
    Operators and admins only."""
    require(by, task.team_id, "edit_task")
    with transaction.atomic():
        task = TaskSpec.objects.select_for_update().get(pk=task.pk)
        statuses = set(task.agents.select_for_update().values_list("status", flat=True))  # none resumes meanwhile
        if statuses - Agent.FINISHED:
            raise ServiceError("Stop its agents before deleting a task that is running.", 409)
        try:
            with transaction.atomic():
                task.delete()
        except ProtectedError as exc:
            kept = list(exc.protected_objects)
            verb = "is" if len(kept) == 1 else "are"
            raise ServiceError(
                f"“{task.title}” cannot be deleted: {_count_by_kind(kept)} on its agents' work {verb} the audit trail"
                " of what was reviewed and merged, which is never deleted. The task stays on record.",
                409,
            ) from None
    return task.title


def _count_by_kind(objects: list) -> str:
    """What rows another app keeps, by their models' own names: "2 verdicts", "1 verdict and 3 reviews"."""
    counts: dict[tuple[str, str], int] = {}
    for obj in objects:
        names = (str(obj._meta.verbose_name), str(obj._meta.verbose_name_plural))
        counts[names] = counts.get(names, 0) + 1
    return " and ".join(f"{n} {one if n == 1 else many}" for (one, many), n in counts.items())


def delete_taste_guide(by, guide: TasteGuide) -> None:
    """Delete a taste guide; refused (409) while agents still working read it (their tasks pinned its version, which
    goes with it). Operators and admins only."""
    require(by, guide.team_id, "edit_taste")
    with transaction.atomic():
        guide = TasteGuide.objects.select_for_update().get(pk=guide.pk)
        refuse_while_working(
            Agent.objects.filter(task__taste_guides=guide),
            f"Taste guide “{guide.name}”",
            "Remove it from the task, or stop its agents, first.",
            use="are working and read it at every step",
        )
        guide.delete()
