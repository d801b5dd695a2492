"""The skills pages: the library with use counts, one skill with its versions and its use by model family, writing
and editing a SKILL.md with a live preview, importing a zip or a folder, exporting one or all as a zip, deleting.
Every write goes through agents/skill_library.py or agents/skill_archive.py; a refusal is shown where it applies."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents import skill_archive, skill_format, skill_library
from agents.errors import ServiceError
from agents.models import Skill
from agents.permissions import owned_or_404
from agents.skill_library import Draft, source_agents
from agents.teams import current_team_id, team_for
from agents.text import render_markdown

NEW_SKILL = skill_format.compose(
    "my-skill", "What this skill does, and when an agent should use it.", "1. The first step.\n2. The next one."
)
MAX_UPLOAD_FILES = skill_format.MAX_FILES * 5


@login_required
@require_GET
def skill_list(request):
    skills = list(Skill.objects.in_team(current_team_id(request)).prefetch_related("versions").order_by("name"))
    uses = skill_library.use_counts(skills)
    rows = [{"skill": s, "current": s.current, "uses": uses.get(s.pk, 0)} for s in skills if s.current]
    return render(request, "agents/skill_list.html", {"rows": rows})


@login_required
@require_GET
def skill_detail(request, pk: int):
    skill = owned_or_404(request.user, Skill.objects, pk)
    versions = list(skill.versions.select_related("created_by").order_by("-number"))
    number = request.GET.get("v", "")
    shown = next((v for v in versions if str(v.number) == number), versions[0])
    context = {
        "skill": skill,
        "versions": versions,
        "shown": shown,
        "body_html": render_markdown(shown.body),
        "files": list(shown.files.all()),
        "usage": skill_library.usage_by_family(skill),
        "allowed_tools": skill_format.listed_tools(shown.frontmatter),
        "bounds": skill_format.allowed_tools(shown.frontmatter),
    }
    return render(request, "agents/skill_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def skill_edit(request, pk: int | None = None):
    skill = owned_or_404(request.user, Skill.objects, pk, "edit_taste") if pk else None
    team = skill.team if skill else team_for(request, "edit_taste")
    text = (
        request.POST.get("skill_md", "") if request.method == "POST" else (skill.current.text if skill else NEW_SKILL)
    )
    error = None
    sources = source_agents(team, request.POST.getlist("sources")[:20])
    if request.method == "POST":
        try:
            draft = Draft(text, {}, sources=tuple(a.pk for a in sources))
            if skill is None:
                version = skill_library.create_skill(request.user, team, draft)
            else:
                version = skill_library.new_version(request.user, skill, draft, keep_files=True)
            messages.success(request, f"Skill “{version.skill.name}” saved as version {version.number}.")
            return redirect(version.skill)
        except ServiceError as exc:
            error = exc.message
    context = {
        "skill": skill,
        "text": text,
        "error": error,
        "sources": [a.pk for a in sources],
        "source_agents": sources,
    }
    return render(request, "agents/skill_form.html", context, status=400 if error else 200)


@login_required
@require_POST
def skill_preview(request):
    """The posted SKILL.md as the library would take it: its name and description with its instructions rendered
    (sanitised), or what is wrong with it."""
    text = request.POST.get("skill_md", "")[: skill_format.MAX_SKILL_MD + 1]
    try:
        parsed = skill_format.parse(text)
    except skill_format.SkillInvalid as exc:
        return render(request, "agents/partials/skill_preview.html", {"error": f"{exc.field} {exc.reason}"})
    context = {"parsed": parsed, "body_html": render_markdown(parsed.body)}
    return render(request, "agents/partials/skill_preview.html", context)


@login_required
@require_POST
def skill_delete(request, pk: int):
    skill = owned_or_404(request.user, Skill.objects, pk, "edit_taste")
    try:
        name = skill_library.delete_skill(request.user, skill)
        messages.success(request, f"Skill “{name}” deleted.")
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect(skill)
    return redirect("agents:skill_list")


def _zip_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def skill_export(request, pk: int | None = None):
    if pk:
        skill = owned_or_404(request.user, Skill.objects, pk)
        return _zip_response(skill_archive.export([skill]), f"{skill.name}.zip")
    skills = Skill.objects.in_team(current_team_id(request))
    return _zip_response(skill_archive.export(skills), "skills.zip")


@login_required
@require_POST
def skill_import(request):
    """A zip (`archive`), or a folder's files (`files`, their relative paths in `paths`, a JSON list the page's
    script fills from the browser's folder picker) into the current team's library."""
    team = team_for(request, "edit_taste")
    try:
        archive = request.FILES.get("archive")
        uploads = request.FILES.getlist("files")
        if archive is not None:
            if archive.size > skill_archive.MAX_ARCHIVE:
                raise ServiceError(f"The zip is {archive.size:,} bytes; at most {skill_archive.MAX_ARCHIVE:,}.")
            names = skill_archive.import_archive(request.user, team, archive.read())
        elif uploads:
            names = skill_archive.import_folder(request.user, team, _folder(uploads, request.POST.get("paths", "")))
        else:
            raise ServiceError("Choose a zip file or a skill's folder to import.")
    except ServiceError as exc:
        messages.error(request, f"Nothing was imported: {exc.message}")
        return redirect("agents:skill_list")
    if names:
        messages.success(request, f"Imported {', '.join(names)}.")
    else:
        messages.info(request, "Nothing new: every skill in it is already in the library as it is.")
    return redirect("agents:skill_list")


def _folder(uploads, paths_json: str) -> dict[str, bytes]:
    if len(uploads) > MAX_UPLOAD_FILES:
        raise ServiceError(f"A folder of at most {MAX_UPLOAD_FILES} files can be imported, not {len(uploads)}.")
    try:
        paths = json.loads(paths_json) if paths_json else []
    except ValueError:
        paths = []
    if not isinstance(paths, list) or len(paths) != len(uploads) or not all(isinstance(p, str) for p in paths):
        paths = [u.name for u in uploads]  # no relative paths came: the files are at the folder's root
    files: dict[str, bytes] = {}
    for path, upload in zip(paths, uploads, strict=True):
        if upload.size > skill_format.MAX_FILE:
            raise ServiceError(f"{path[:200]} is {upload.size:,} bytes; a skill's file holds at most "
                               f"{skill_format.MAX_FILE:,}.")  # fmt: skip
        files[path] = upload.read()
    return files
