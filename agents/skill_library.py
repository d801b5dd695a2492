"""A team's skill library: creating a skill, a new version of one, deleting one, pinning a task's versions at launch,
what a task's agents are offered, and each skill's use counts. Every write checks the role (`edit_taste`) and runs
in one transaction; what the format refuses (agents/skill_format.py) is answered as a FieldError naming the field.
Archives (zip import and export) are agents/skill_archive.py."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q, prefetch_related_objects

from agents import skill_format
from agents.errors import FieldError, ServiceError, refuse_while_working
from agents.models import Agent, Skill, SkillFile, SkillUse, SkillVersion, TaskSpec, Team
from agents.permissions import require
from agents.tool_errors import ToolRefused

SANDBOX_ROOT = "/skills"  # where a task's skills are, read-only, in its agents' sandboxes


@dataclass
class Draft:
    """A skill as submitted: its SKILL.md text, its files by path, and (for a folder) the folder's name."""

    text: str
    files: dict[str, bytes]
    folder: str | None = None
    sources: tuple[int, ...] = ()
    history: bool = False  # an earlier version, from an export's history


def source_agents(team, ids) -> list[Agent]:
    """The approved runs of the team a draft names as its provenance (any other id is dropped)."""
    wanted = [int(i) for i in ids if str(i).isdigit() and int(i) < 2**63]
    found = Agent.objects.in_team(team).filter(pk__in=wanted, status=Agent.Status.ACCEPTED).select_related("task")
    return list(found.order_by("pk"))


def invalid(exc: skill_format.SkillInvalid, where: str = "") -> FieldError:
    """The format's refusal as the API's: "<field> <reason>" (and the folder it is in, for an archive)."""
    return FieldError(exc.field, f"{exc.reason} (in {where})" if where else exc.reason)


@dataclass
class Checked:
    """A draft that passed `check`: the SKILL.md parsed and the files by checked path."""

    draft: Draft
    parsed: skill_format.ParsedSkill
    files: dict[str, bytes]


def check(draft: Draft | Checked) -> Checked:
    """The draft parsed and its files checked (once: a draft checked already is answered as it is), or a FieldError
    naming the field and the reason."""
    if isinstance(draft, Checked):
        return draft
    try:
        return Checked(draft, skill_format.parse(draft.text, draft.folder), skill_format.check_files(draft.files))
    except skill_format.SkillInvalid as exc:
        raise invalid(exc, draft.folder or "") from None


def _add_version(skill: Skill, parsed, text: str, files: dict[str, bytes], by, sources=()) -> SkillVersion:
    number = (skill.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = SkillVersion.objects.create(
        skill=skill,
        number=number,
        text=text,
        description=parsed.description,
        body=parsed.body,
        frontmatter=parsed.frontmatter,
        sources=[int(s) for s in sources],
        created_by=by if getattr(by, "pk", None) else None,
    )
    SkillFile.objects.bulk_create(
        SkillFile(version=version, path=path, content=content, size=len(content)) for path, content in files.items()
    )
    return version


def create_skill(by, team: Team, draft: Draft | Checked) -> SkillVersion:
    """A new skill at version 1; refused (409) when the team has one of that name already."""
    require(by, team.pk, "edit_taste")
    checked = check(draft)
    parsed, draft = checked.parsed, checked.draft
    try:
        with transaction.atomic():
            skill = Skill.objects.create(team=team, name=parsed.name)
            return _add_version(skill, parsed, draft.text, checked.files, by, draft.sources)
    except IntegrityError:
        raise ServiceError(
            f"Your team has a skill named {parsed.name!r} already: edit it to make a new version.", 409
        ) from None


def seed(team: Team, draft: Draft) -> Skill:
    """The system's own skills (the demo): made at version 1 when the team has none of the name, else left as is."""
    checked = check(draft)
    skill, created = Skill.objects.get_or_create(team=team, name=checked.parsed.name)
    if created:
        _add_version(skill, checked.parsed, draft.text, checked.files, None)
    return skill


def new_version(by, skill: Skill, draft: Draft | Checked, keep_files: bool = False) -> SkillVersion:
    """The skill edited: a new version (its files those given, or the current version's with `keep_files`). The
    name stays; an edit that changes nothing makes no version and answers the current one."""
    require(by, skill.team_id, "edit_taste")
    checked = check(draft)
    parsed, files, draft = checked.parsed, checked.files, checked.draft
    if parsed.name != skill.name:
        raise FieldError("name", f"name is {parsed.name!r}, but this skill is {skill.name!r}; a name never changes")
    with transaction.atomic():
        skill = Skill.objects.select_for_update().get(pk=skill.pk)
        current = skill.current
        if keep_files and current is not None:
            files = current.file_map()
        if current is not None and current.text == draft.text and current.file_map() == files:
            return current
        return _add_version(skill, parsed, draft.text, files, by, draft.sources)


def delete_skill(by, skill: Skill) -> str:
    """Delete a skill with its versions; refused (409) while working agents' tasks pinned one of them."""
    require(by, skill.team_id, "edit_taste")
    with transaction.atomic():
        skill = Skill.objects.select_for_update().get(pk=skill.pk)
        refuse_while_working(
            Agent.objects.filter(task__pinned_skills__skill=skill), f"Skill {skill.name!r}", "Stop them first."
        )
        skill.delete()
    return skill.name


def pin(task: TaskSpec) -> None:
    """At launch (inside its transaction): the task keeps the current version of each of its skills."""
    current = SkillVersion.objects.filter(skill__in=task.skills.all()).order_by("skill_id", "-number")
    newest: dict[int, int] = {}
    for skill_id, pk in current.values_list("skill_id", "pk"):
        newest.setdefault(skill_id, pk)
    task.pinned_skills.set(newest.values())


def task_versions(task: TaskSpec) -> list[SkillVersion]:
    """The skill versions a task's agents are offered: those it pinned at launch, or (not launched yet) the current
    versions of its skills. By name."""
    if task.launched_at is not None:
        return list(task.pinned_skills.select_related("skill").order_by("skill__name"))
    versions = []
    for skill in task.skills.prefetch_related("versions").order_by("name"):
        if skill.current is not None:
            versions.append(skill.current)
    return versions


def version_for(agent: Agent, name: object) -> SkillVersion:
    """The task's pinned version of the named skill, or a refusal listing the skills it has."""
    wanted = str(name or "").strip().lower()
    versions = task_versions(agent.task)
    found = next((v for v in versions if v.skill.name == wanted), None)
    if found is None:
        names = ", ".join(v.skill.name for v in versions)
        raise ToolRefused(f"no skill named {str(name)[:100]!r} for this task; its skills: {names or 'none'}")
    return found


def sandbox_files(task: TaskSpec) -> dict[str, bytes]:
    """Every file of the task's skills (SKILL.md too) at /skills/<name>/<path>, for its agents' sandboxes: two
    queries, however many skills and files (every sandboxed command mounts them)."""
    files: dict[str, bytes] = {}
    versions = task_versions(task)
    prefetch_related_objects(versions, "files")
    for version in versions:
        root = f"{SANDBOX_ROOT}/{version.skill.name}"
        files[f"{root}/{skill_format.SKILL_MD}"] = version.text.encode()
        for f in version.files.all():
            files[f"{root}/{f.path}"] = bytes(f.content)
    return files


def active(version: SkillVersion) -> dict:
    """The skill an agent follows once it loaded the version (Agent.active_skill): while it does, the version's
    allowed-tools (when it lists any) are the only tools it may call besides the skill tools."""
    tools = skill_format.allowed_tools(version.frontmatter)
    return {"name": version.skill.name, "version": version.number, "tools": tools}


def record_use(agent: Agent, version: SkillVersion) -> bool:
    """Count the agent as a user of the version (once); True the first time."""
    _, created = SkillUse.objects.get_or_create(agent=agent, version=version)
    return created


def usage_by_family(skill: Skill) -> list[dict]:
    """Per model family: runs (agents) that loaded any version of the skill, how many were approved, and the rate."""
    rows = list(
        Agent.objects.filter(skill_uses__version__skill=skill)
        .values(family=F("profile__family"))
        .annotate(
            runs=Count("id", distinct=True),
            approved=Count("id", filter=Q(status=Agent.Status.ACCEPTED), distinct=True),
        )
        .order_by("family")
    )
    for row in rows:
        row["rate"] = row["approved"] / row["runs"] if row["runs"] else 0.0
    return rows


def use_counts(skills) -> dict[int, int]:
    """Runs that loaded each skill, by skill id, in one query."""
    rows = (
        SkillUse.objects.filter(version__skill__in=skills)
        .values("version__skill_id")
        .annotate(n=Count("agent_id", distinct=True))
    )
    return {r["version__skill_id"]: r["n"] for r in rows}
