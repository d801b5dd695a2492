"""`swarm skills list|export|import`: the team's skill library as zip archives (GET/POST /api/skills/export|import).
A folder is zipped here with the standard library: plain files by relative path, `.git` left out, a symbolic link
refused (never followed). The server checks everything again; these bounds only spare it a hopeless upload."""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import sys
import zipfile
from pathlib import Path

from swarm_cli.client import ApiError, Client

MAX_ENTRIES = 2_000  # as the server's agents/skill_archive.py
MAX_BYTES = 50_000_000  # all of a folder's files together, as the server's MAX_INFLATED
MAX_ZIP = 20_000_000


def skills_list(client: Client, args) -> int:
    skills, page, pages = [], 1, 1
    while page <= pages:  # every page, as many as the library has
        answer = client.get("skills", page=page, per_page=200)
        skills += answer["skills"]
        page, pages = page + 1, answer.get("pages", 1)
    if args.json:
        print(json.dumps(skills, indent=2, ensure_ascii=False))
        return 0
    for s in skills:
        description = " ".join(s["description"].split())
        description = description if len(description) <= 80 else description[:79] + "…"
        print(f"{s['name']:<32} v{s['version']:<4} {s['uses']:>5} uses  {description}")
    print(_count(len(skills)))
    return 0


def _count(n: int) -> str:
    return f"{n} skill" if n == 1 else f"{n} skills"


def skills_export(client: Client, args) -> int:
    answer = client.get("skills/export", name=args.name)
    try:
        data = base64.b64decode(answer["zip_base64"], validate=True)
    except (binascii.Error, ValueError, KeyError):
        raise ApiError("the server's export is not a zip in base64") from None
    if args.output == "-":
        sys.stdout.buffer.write(data)
        return 0
    target = Path(args.output or Path(answer.get("filename") or "skills.zip").name)
    if not args.output and target.exists():
        raise ApiError(f"{target} exists; name the file to write with -o", field="output")
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise ApiError(f"{target}: cannot write it ({exc.strerror or exc})", field="output") from None
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        count = sum(1 for n in zf.namelist() if n.count("/") == 1 and n.endswith("/SKILL.md"))
    print(f"wrote {target} ({len(data):,} bytes, {_count(count)})")
    return 0


def skills_import(client: Client, args) -> int:
    source = Path(args.source)
    try:
        if source.is_dir():
            data = zip_folder(source)
        elif source.is_file():
            if source.stat().st_size > MAX_ZIP:
                raise ApiError(f"{args.source}: larger than {MAX_ZIP:,} bytes", field="archive")
            data = source.read_bytes()
        else:
            raise ApiError(f"{args.source}: no such file or folder")
    except OSError as exc:
        raise ApiError(f"{exc.filename or args.source}: cannot read it ({exc.strerror or exc})") from None
    body = {"zip_base64": base64.b64encode(data).decode(), **({"team": args.team} if args.team else {})}
    names = client.post("skills/import", body)["imported"]
    if names:
        print(f"imported {_count(len(names))}: {', '.join(names)}")
    else:
        print("nothing to import: every skill is already in the library as it is")
    return 0


def zip_folder(folder: Path) -> bytes:
    """The folder as a zip. A folder with a SKILL.md is one skill, stored under its own name (which the skill's
    `name` must match); any other folder holds skill folders, stored by their paths inside it."""
    root = folder.resolve()
    prefix = f"{root.name}/" if (root / "SKILL.md").is_file() else ""
    entries: list[tuple[str, Path]] = []
    total = 0
    for here, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(dirs) + sorted(f for f in files if f != ".git"):
            path = Path(here) / name
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                raise ApiError(f"{relative} is a symbolic link; a skill holds plain files only", field=relative)
            if name not in dirs and path.is_file():
                entries.append((prefix + relative, path))
                total += path.stat().st_size
        if len(entries) > MAX_ENTRIES:
            raise ApiError(f"{folder}: more than {MAX_ENTRIES:,} files", field="archive")
        if total > MAX_BYTES:
            raise ApiError(f"{folder}: more than {MAX_BYTES:,} bytes of files", field="archive")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, path in entries:
            zf.write(path, name)
    return out.getvalue()


def add_parser(sub) -> None:
    skills = sub.add_parser("skills", help="the skill library: list, export, import").add_subparsers(
        dest="action", required=True
    )
    ls = skills.add_parser("list", help="your teams' skills: name, version, uses, description")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=skills_list)
    out = skills.add_parser("export", help="write a zip of all skills (or one), with their earlier versions")
    out.add_argument("name", nargs="?", help="only this skill")
    out.add_argument("-o", "--output", help="the zip to write (- for stdout; default: the server's file name here)")
    out.set_defaults(handler=skills_export)
    imp = skills.add_parser("import", help="import a zip (such as an export) or a folder of one skill or many")
    imp.add_argument("source", metavar="ZIP_OR_FOLDER")
    imp.add_argument("--team", help="the team whose library gets them (default: yours)")
    imp.set_defaults(handler=skills_import)
