"""Skills in and out as zip archives: import a zip holding one skill folder or many (or one skill's files at its
root), export one skill or all. An export is deterministic (sorted entries, fixed dates and modes) and holds each
skill's current version as a plain Agent Skills folder, `<name>/SKILL.md` and its files, plus its earlier versions
under `.swarm-history/<name>/<number>/`, so importing an export into an empty library gives the same library back.

The archive is untrusted: its size, its number of entries and the bytes each entry really inflates to are bounded
(a zip bomb stops at the limit, whatever its headers claim); absolute paths, `..`, symlinks and nested git
repositories are refused, each with the entry it is about.
"""

from __future__ import annotations

import io
import stat
import zipfile
from collections import defaultdict

from django.db import transaction

from agents import skill_format, skill_library
from agents.errors import FieldError
from agents.models import Skill, Team
from agents.permissions import require
from agents.skill_library import Draft

MAX_ARCHIVE = 20_000_000  # bytes of the zip itself
MAX_ENTRIES = 2_000
MAX_INFLATED = 50_000_000  # bytes all its entries inflate to together
HISTORY = ".swarm-history"
IGNORED = ("__MACOSX/",)
FIXED_DATE = (1980, 1, 1, 0, 0, 0)


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_INFLATED

    def read(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
        limit = max(skill_format.MAX_SKILL_MD * 4, skill_format.MAX_FILE) + 1
        with zf.open(info) as handle:
            content = handle.read(min(limit, self.left + 1))
        if len(content) > self.left:
            raise FieldError("archive", f"inflates to more than {MAX_INFLATED:,} bytes; it is refused")
        if len(content) >= limit:
            raise FieldError(
                info.filename[:200], f"inflates to more than {limit - 1:,} bytes; a skill's file is smaller"
            )
        self.left -= len(content)
        return content


def read(data: bytes) -> list[Draft]:
    """The skills in a zip, each a Draft (its SKILL.md, its files, its folder), by folder; history versions first, in
    order, then each folder's current version. Nothing is stored here."""
    if len(data) > MAX_ARCHIVE:
        raise FieldError("archive", f"is {len(data):,} bytes; at most {MAX_ARCHIVE:,}")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise FieldError("archive", "is not a zip file") from None
    if len(infos) > MAX_ENTRIES:
        raise FieldError("archive", f"holds {len(infos):,} entries; at most {MAX_ENTRIES:,}")
    budget = _Budget()
    entries: dict[str, bytes] = {}
    for info in infos:
        name = info.filename
        if info.is_dir() or name.startswith(IGNORED) or name.rsplit("/", 1)[-1] == ".DS_Store":
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            raise FieldError(name[:200], "is a symbolic link; a skill holds plain files only")
        if info.flag_bits & 0x1:
            raise FieldError(name[:200], "is encrypted")
        try:
            clean = skill_format.check_path(name) if name != skill_format.SKILL_MD else name
        except skill_format.SkillInvalid as exc:
            raise FieldError(exc.field, exc.reason) from None
        entries[clean] = budget.read(zf, info)
    return _drafts(entries)


def _drafts(entries: dict[str, bytes]) -> list[Draft]:
    roots = sorted(
        {p.rsplit("/", 1)[0] if "/" in p else "" for p in entries if p.rsplit("/", 1)[-1] == skill_format.SKILL_MD}
    )
    if not roots:
        raise FieldError("archive", "holds no SKILL.md: a skill is a folder with a SKILL.md")
    for root in roots:
        inner = [r for r in roots if r != root and (root == "" or r.startswith(root + "/"))]
        if inner and not (root == "" and all(r.startswith(HISTORY + "/") for r in inner)):
            raise FieldError(inner[0] or "archive", f"is a skill inside the skill {root or '(root)'}; one level only")
    files: dict[str, dict[str, bytes]] = defaultdict(dict)
    for path, content in entries.items():
        root = max((r for r in roots if r == "" or path.startswith(r + "/")), key=len, default=None)
        if root is None:
            raise FieldError(path[:200], "is not in a skill's folder (no SKILL.md beside or above it)")
        files[root][path[len(root) + 1 :] if root else path] = content
    drafts = []
    for root in sorted(roots, key=lambda r: (not r.startswith(HISTORY + "/"), _history_order(r))):
        own = dict(files[root])
        raw = own.pop(skill_format.SKILL_MD)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FieldError(f"{root}/SKILL.md".lstrip("/"), "is not UTF-8 text") from None
        if root.startswith(HISTORY + "/"):
            parts = root.split("/")
            if len(parts) != 3 or not parts[2].isdigit():
                raise FieldError(root, f"is not {HISTORY}/<name>/<number>")
            folder = parts[1]
        else:
            folder = root.rsplit("/", 1)[-1] or None
        drafts.append(Draft(text, own, folder, history=root.startswith(HISTORY + "/")))
    return drafts


def _history_order(root: str) -> tuple:
    parts = root.split("/")
    if parts[0] == HISTORY and len(parts) == 3 and parts[2].isdigit():
        return (parts[1], int(parts[2]))
    return (root, 0)


def import_archive(by, team: Team, data: bytes) -> list[str]:
    """Every skill of the zip into the team's library, all or none: a new skill for a new name, a new version when
    its content differs from the current one. Returns the names of the skills that got a version, sorted."""
    require(by, team.pk, "edit_taste")
    return _import(by, team, read(data))


def import_folder(by, team: Team, files: dict[str, bytes]) -> list[str]:
    """A folder's files by relative path (a browser's folder upload), holding one skill folder or many: as a zip."""
    require(by, team.pk, "edit_taste")
    if len(files) > MAX_ENTRIES:
        raise FieldError("files", f"are {len(files):,}; at most {MAX_ENTRIES:,}")
    if sum(len(c) for c in files.values()) > MAX_INFLATED:
        raise FieldError("files", f"hold more than {MAX_INFLATED:,} bytes together")
    entries = {}
    for path, content in files.items():
        if path.startswith(IGNORED) or path.rsplit("/", 1)[-1] == ".DS_Store":
            continue
        try:
            entries[skill_format.check_path(path) if path != skill_format.SKILL_MD else path] = content
        except skill_format.SkillInvalid as exc:
            raise FieldError(exc.field, exc.reason) from None
    return _import(by, team, _drafts(entries))


def _import(by, team: Team, drafts: list[Draft]) -> list[str]:
    checked = [skill_library.check(draft) for draft in drafts]  # every one valid before anything is stored
    changed: set[str] = set()
    created: set[str] = set()  # skills this import made: their history versions come in, in order
    with transaction.atomic():
        for one in checked:
            name = one.parsed.name
            skill = Skill.objects.in_team(team).filter(name=name).first()
            if skill is None:
                skill_library.create_skill(by, team, one)
                created.add(name)
            elif one.draft.history and name not in created:
                continue  # a library that has the skill keeps its own history
            else:
                before = skill.current.pk if skill.current else None
                if skill_library.new_version(by, skill, one).pk == before:
                    continue
            changed.add(name)
    return sorted(changed)


def _entry(path: str, content: bytes) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(path, date_time=FIXED_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if "/scripts/" in path else 0o644) | stat.S_IFREG) << 16
    info.create_system = 3  # unix, so the modes above are read back
    return info, content


def export(skills) -> bytes:
    """A zip of the skills (a queryset or list): each current version as a folder, earlier ones as history."""
    entries: list[tuple[str, bytes]] = []
    for skill in sorted(skills, key=lambda s: s.name):
        versions = sorted(skill.versions.prefetch_related("files"), key=lambda v: v.number)
        for version in versions:
            root = skill.name if version is versions[-1] else f"{HISTORY}/{skill.name}/{version.number}"
            entries.append((f"{root}/{skill_format.SKILL_MD}", version.text.encode()))
            entries += [(f"{root}/{f.path}", bytes(f.content)) for f in version.files.all()]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path, content in sorted(entries):
            info, raw = _entry(path, content)
            zf.writestr(info, raw)
    return out.getvalue()
