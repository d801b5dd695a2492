"""The skill library in the JSON API: list, get, create, a new version, one version's files, delete, and zip archives
in and out (as base64 in JSON, within SWARM_MAX_BODY_BYTES). Its routes join agents/api_urls.py's table.

Files travel as `{"path", "content", "encoding"}` with encoding `utf-8` (text) or `base64` (any bytes); the rules of
the Agent Skills format are agents/skill_format.py's, and a refusal names the field (`name`, `description`, a path).
"""

from __future__ import annotations

import base64
import binascii

from agents import api_lists, skill_archive, skill_format, skill_library
from agents.api_base import (
    INTEGER,
    STRING,
    STRINGS,
    TEAM_REF,
    TIME,
    FieldError,
    Operation,
    Route,
    body,
    int_query,
    obj,
    owned,
    request_team,
    text,
)
from agents.api_lists import PAGE_QUERY, page_schema
from agents.models import Skill, SkillVersion
from agents.skill_format import MAX_FILES, MAX_SKILL_MD
from agents.skill_library import Draft

# ---------------------------------------------------------------- shapes

FILE = obj(
    "SkillFile",
    path=STRING,
    size=INTEGER,
    encoding={"type": "string", "enum": ["utf-8", "base64"]},
    content={"type": "string", "description": "the file's text, or its bytes in base64"},
)
FILE_INFO = obj("SkillFileInfo", path=STRING, size=INTEGER)
VERSION = obj(
    "SkillVersion",
    number=INTEGER,
    description=STRING,
    created_at=TIME,
    created_by={"type": ["string", "null"]},
    sources={"type": "array", "items": INTEGER, "description": "ids of the agents whose runs it was drafted from"},
)
VERSION_FULL = obj(
    "SkillVersionFull",
    skill=STRING,
    number=INTEGER,
    skill_md={"type": "string", "description": "the whole SKILL.md: frontmatter and instructions"},
    files={"type": "array", "items": FILE},
)
SKILL_SUMMARY = obj(
    "SkillSummary",
    id=INTEGER,
    name=STRING,
    description=STRING,
    version=INTEGER,
    uses={"type": "integer", "description": "runs (agents) that loaded it"},
)
SKILL = obj(
    "Skill",
    id=INTEGER,
    name=STRING,
    description=STRING,
    version=INTEGER,
    skill_md=STRING,
    allowed_tools={
        **STRINGS,
        "description": "the Swarm tools its allowed-tools lists: while an agent follows the skill, the only ones it"
        " may call besides load_skill, read_skill_file and finish_skill (empty: every tool)",
    },
    files={"type": "array", "items": FILE_INFO},
    latest={**VERSION, "description": "the current version (every version: GET /api/skills/{pk}/versions)"},
    version_count=INTEGER,
    usage={
        "type": "array",
        "description": "per model family: runs that loaded it, how many were approved, and the rate (0-1)",
        "items": obj(family=STRING, runs=INTEGER, approved=INTEGER, rate={"type": "number"}),
    },
)
ARCHIVE = obj(
    "SkillArchive", filename=STRING, zip_base64={"type": "string", "description": "the zip's bytes in base64"}
)
IMPORTED = obj(imported={**STRINGS, "description": "the skills that got a new version (or were made), by name"})
DELETED = obj(deleted=STRING)

NEW_FILE = body(
    ["path", "content"],
    path=text(200, 1),
    content={"type": "string", "maxLength": 1_400_000},
    encoding={"type": "string", "enum": ["utf-8", "base64"], "description": "utf-8 (default) or base64"},
)
FILES = {"type": "array", "items": NEW_FILE, "maxItems": MAX_FILES}
NEW_SKILL = body(
    ["skill_md"],
    team=TEAM_REF,
    skill_md=text(MAX_SKILL_MD, 1),
    files=FILES,
    sources={
        "type": "array",
        "items": {"type": "integer", "minimum": 1},
        "maxItems": 20,
        "description": "provenance: your team's approved runs (agent ids) it was drafted from (POST"
        " /api/agents/{pk}/skill-draft)",
    },
)
NEW_VERSION = body(
    ["skill_md"],
    skill_md=text(MAX_SKILL_MD, 1),
    files=FILES,
    keep_files={"type": "boolean", "description": "keep the current version's files (then `files` is ignored)"},
)
IMPORT = body(["zip_base64"], team=TEAM_REF, zip_base64=text(30_000_000, 1))
EXPORT_QUERY = {"name": {"type": "string", "description": "export only this skill (default: all of your team's)"}}

# ---------------------------------------------------------------- how they look


def _encode(content: bytes) -> tuple[str, str]:
    try:
        return "utf-8", content.decode("utf-8")
    except UnicodeDecodeError:
        return "base64", base64.b64encode(content).decode()


def version_json(v: SkillVersion) -> dict:
    by = v.created_by.get_username() if v.created_by_id else None
    return {"number": v.number, "description": v.description, "created_at": v.created_at.isoformat(),
            "created_by": by, "sources": v.sources}  # fmt: skip


def skill_json(skill: Skill) -> dict:
    versions = skill.versions.select_related("created_by").order_by("-number")
    current = versions[0]
    return {
        "id": skill.pk,
        "name": skill.name,
        "description": current.description,
        "version": current.number,
        "skill_md": current.text,
        "allowed_tools": skill_format.allowed_tools(current.frontmatter),
        "files": [{"path": f.path, "size": f.size} for f in current.files.all()],
        "latest": version_json(current),
        "version_count": versions.count(),
        "usage": skill_library.usage_by_family(skill),
    }


# ---------------------------------------------------------------- handlers


def _files(data: dict) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for i, f in enumerate(data.get("files") or []):
        if f.get("encoding") == "base64":
            try:
                files[f["path"]] = base64.b64decode(f["content"], validate=True)
            except (binascii.Error, ValueError):
                raise FieldError(f"files[{i}].content", "is not valid base64.") from None
        else:
            files[f["path"]] = f["content"].encode()
    return files


def _skill(request, pk: int) -> Skill:
    return owned(request, Skill.objects.prefetch_related("versions"), pk, "skill")


def skills_list(request) -> dict:
    """A page of the skills that have a version, by name, with how often each was used."""
    rows = Skill.objects.for_user(request.user).filter(versions__isnull=False).distinct()
    page = api_lists.page(request, rows.prefetch_related("versions").order_by("name", "id"))
    uses = skill_library.use_counts(page.items)
    return api_lists.answer(
        "skills",
        page,
        lambda s: {
            "id": s.pk,
            "name": s.name,
            "description": s.current.description,
            "version": s.current.number,
            "uses": uses.get(s.pk, 0),
        },
    )


def skills_create(request, data: dict):
    team = request_team(request, data.get("team"))
    sources = skill_library.source_agents(team, data.get("sources", []))
    if len(sources) != len(set(data.get("sources", []))):
        raise FieldError("sources", "names agents that are not approved runs of your team.")
    draft = Draft(data["skill_md"], _files(data), sources=tuple(a.pk for a in sources))
    version = skill_library.create_skill(request.user, team, draft)
    return skill_json(version.skill)


def skill_detail(request, pk: int) -> dict:
    return skill_json(_skill(request, pk))


def skill_delete(request, pk: int) -> dict:
    return {"deleted": skill_library.delete_skill(request.user, _skill(request, pk))}


def skill_new_version(request, data: dict, pk: int):
    skill = _skill(request, pk)
    draft = Draft(data["skill_md"], _files(data))
    skill_library.new_version(request.user, skill, draft, keep_files=bool(data.get("keep_files")))
    return skill_json(skill)


def skill_versions(request, pk: int) -> dict:
    skill = _skill(request, pk)
    rows = skill.versions.select_related("created_by").order_by("-number")
    return {"skill": skill.name, **api_lists.paged(request, rows, "versions", version_json)}


def skill_files(request, pk: int) -> dict:
    skill = _skill(request, pk)
    number = int_query(request, "version", 0)
    version = skill.versions.filter(number=number).first() if number else skill.current
    if version is None:
        raise FieldError("version", f"is not a version of {skill.name}.")
    files = []
    for f in version.files.all():
        encoding, content = _encode(bytes(f.content))
        files.append({"path": f.path, "size": f.size, "encoding": encoding, "content": content})
    return {"skill": skill.name, "number": version.number, "skill_md": version.text, "files": files}


def skills_import(request, data: dict) -> dict:
    team = request_team(request, data.get("team"))
    try:
        raw = base64.b64decode(data["zip_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise FieldError("zip_base64", "is not valid base64.") from None
    return {"imported": skill_archive.import_archive(request.user, team, raw)}


def skills_export(request) -> dict:
    skills = Skill.objects.for_user(request.user).order_by("name")
    name = request.GET.get("name")
    if name is not None:
        skills = skills.filter(name=name)
        if not skills:
            raise FieldError("name", "is not a skill of your teams.", 404)
    filename = f"{name}.zip" if name else "skills.zip"
    return {"filename": filename, "zip_base64": base64.b64encode(skill_archive.export(skills)).decode()}


ROUTES = [
    Route(
        "skills",
        "api_skills",
        get=Operation(
            skills_list, "Your teams' skills, by name", page_schema("skills", SKILL_SUMMARY), query=PAGE_QUERY
        ),
        post=Operation(
            skills_create,
            "Write a new skill in the Agent Skills format: its SKILL.md and files (version 1)",
            SKILL,
            status=201,
            body=NEW_SKILL,
            errors=(409,),
            action="edit_taste",
        ),
    ),
    Route(
        "skills/import",
        "api_skills_import",
        post=Operation(
            skills_import,
            "Import a zip of skill folders: new skills, and new versions of changed ones (all or nothing)",
            IMPORTED,
            body=IMPORT,
            errors=(409,),
            action="edit_taste",
        ),
    ),
    Route(
        "skills/export",
        "api_skills_export",
        get=Operation(
            skills_export,
            "A zip of your skills (one, or all), with their history",
            ARCHIVE,
            query=EXPORT_QUERY,
            errors=(404,),
        ),
    ),
    Route(
        "skills/<int:pk>",
        "api_skill",
        get=Operation(skill_detail, "A skill: its current SKILL.md, files, versions and use by model family", SKILL),
        delete=Operation(skill_delete, "Delete a skill with its versions", DELETED, errors=(409,), action="edit_taste"),
    ),
    Route(
        "skills/<int:pk>/versions",
        "api_skill_versions",
        get=Operation(
            skill_versions,
            "A skill's versions, newest first (a task keeps the versions it launched with)",
            page_schema("versions", VERSION, skill=STRING),
            query=PAGE_QUERY,
        ),
        post=Operation(
            skill_new_version,
            "Edit a skill: a new version (an unchanged one makes none); tasks keep the versions they launched with",
            SKILL,
            status=201,
            body=NEW_VERSION,
            action="edit_taste",
        ),
    ),
    Route(
        "skills/<int:pk>/files",
        "api_skill_files",
        get=Operation(
            skill_files,
            "One version of a skill (the current one by default): its SKILL.md and its files' contents",
            VERSION_FULL,
            query={"version": {"type": "integer", "minimum": 1, "description": "the version's number"}},
        ),
    ),
]
