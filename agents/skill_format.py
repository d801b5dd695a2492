"""The Agent Skills format (agentskills.io): a skill is a folder with a `SKILL.md` (YAML frontmatter, then Markdown
instructions) and optional files (scripts/, references/, assets/). This module reads and checks one, with no
database: `parse` the SKILL.md text, `check_path` a file's path, `check_files` a folder's files. What is refused
raises `SkillInvalid` naming the field and the reason.

Everything here is untrusted input: the YAML is read with the safe loader and bounded in size, no path may leave
the skill's folder, and a name is checked by length before any pattern is matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import yaml

from agents import tool_schemas
from agents.text import clean_chars

MAX_SKILL_MD = 100_000  # characters of SKILL.md
MAX_FRONTMATTER = 16_000  # characters of its YAML
MAX_FILE = 1_000_000  # bytes of one file besides SKILL.md
MAX_FILES = 100  # files besides SKILL.md
MAX_TOTAL = 5_000_000  # bytes of a skill's files together
MAX_PATH = 200
NAME_MAX, DESCRIPTION_MAX, COMPATIBILITY_MAX, LICENSE_MAX = 64, 1024, 500, 200
FIELDS = ("name", "description", "license", "compatibility", "metadata", "allowed-tools")
NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # lowercase letters, digits, single hyphens inside
SKILL_MD = "SKILL.md"
FRONT = "---"


class SkillInvalid(ValueError):
    """A skill refused: `field` is the frontmatter field, `SKILL.md`, `files` or a file's path; `reason` says why."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass
class ParsedSkill:
    name: str
    description: str
    body: str
    frontmatter: dict = field(default_factory=dict)
    allowed_tools: list[str] = field(default_factory=list)  # every name listed; empty: the skill declares none

    @property
    def listed_tools(self) -> list[tuple[str, bool]]:
        """Each name `allowed-tools` lists, and whether it is a Swarm tool (only those bound an agent's calls)."""
        return listed_tools(self.frontmatter)


def tool_names(value: object) -> list[str]:
    """The names an `allowed-tools` value lists: space-delimited as the spec says (commas are taken too); a name with
    a pattern in brackets, as other products write them (`Bash(git add:*)`), is one name."""
    return re.findall(r"[^\s,(]+(?:\([^)]*\)?)?", value) if isinstance(value, str) else []


def listed_tools(frontmatter: dict) -> list[tuple[str, bool]]:
    """Each name a version's `allowed-tools` lists, and whether it is a Swarm tool: a skill written for another
    product may list that product's tools (`Bash(git:*)`, `Read`); they are kept, shown as ignored, and bound nothing."""
    return [(n, n in tool_schemas.NAMES) for n in tool_names(frontmatter.get("allowed-tools"))]


def allowed_tools(frontmatter: dict) -> list[str]:
    """The Swarm tools a version's `allowed-tools` lists: what bounds an agent's calls while it follows the skill
    (agents/guards.py). Names that are no Swarm tool are left out (no agent can call them anyway); none left: no
    bound."""
    return [n for n, known in listed_tools(frontmatter) if known]


def check_allowed_tools(front: dict) -> list[str]:
    """Every name `allowed-tools` lists, Swarm's or not (the spec lets a skill name any product's tools)."""
    value = _text_field(front, "allowed-tools", DESCRIPTION_MAX)
    names = tool_names(value)
    if "allowed-tools" in front and front["allowed-tools"] is not None and not names:
        raise SkillInvalid("allowed-tools", "lists no tool; name the tools, space-delimited, or leave it out")
    return list(dict.fromkeys(names))


def check_name(name: object, folder: str | None = None) -> str:
    if not isinstance(name, str) or not name:
        raise SkillInvalid("name", "is required: lowercase letters, digits and hyphens, at most 64 characters")
    if len(name) > NAME_MAX:
        raise SkillInvalid("name", f"is {len(name)} characters long; at most {NAME_MAX}")
    if not NAME.fullmatch(name):
        raise SkillInvalid(
            "name", f"may hold only lowercase letters, digits and single hyphens, not at its start or end ({name!r})"
        )
    if folder is not None and folder != name:
        raise SkillInvalid("name", f"must match the skill's folder name {folder!r}, not {name!r}")
    return name


def _text_field(front: dict, key: str, limit: int, required: bool = False) -> str:
    value = front.get(key)
    if value is None:
        if required:
            raise SkillInvalid(key, "is required: what the skill does and when to use it")
        return ""
    if not isinstance(value, str):
        raise SkillInvalid(key, f"must be text, not {type(value).__name__}")
    if required and not value.strip():
        raise SkillInvalid(key, "must not be empty")
    if len(value) > limit:
        raise SkillInvalid(key, f"is {len(value)} characters long; at most {limit}")
    return value


def split(text: str) -> tuple[str, str]:
    """(frontmatter YAML, body) of a SKILL.md text."""
    if not isinstance(text, str) or not text.strip():
        raise SkillInvalid(SKILL_MD, "is empty; it starts with YAML frontmatter between --- lines")
    if len(text) > MAX_SKILL_MD:
        raise SkillInvalid(SKILL_MD, f"is {len(text)} characters long; at most {MAX_SKILL_MD}")
    if clean_chars(text) != text:
        raise SkillInvalid(SKILL_MD, "holds a character no database can store (NUL or a lone surrogate)")
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").split("\n")
    if lines[0].strip() != FRONT:
        raise SkillInvalid(SKILL_MD, "must start with a --- line opening the YAML frontmatter")
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == FRONT), None)
    if end is None:
        raise SkillInvalid(SKILL_MD, "has no --- line closing its YAML frontmatter")
    return "\n".join(lines[1:end]), "\n".join(lines[end + 1 :]).strip("\n")


def parse(text: str, folder: str | None = None) -> ParsedSkill:
    """A SKILL.md checked against the spec; `folder`: the folder it came in, whose name the skill's must match."""
    yaml_text, body = split(text)
    if len(yaml_text) > MAX_FRONTMATTER:
        raise SkillInvalid(SKILL_MD, f"its frontmatter is {len(yaml_text)} characters long; at most {MAX_FRONTMATTER}")
    try:
        front = yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 2})" if where is not None else ""
        raise SkillInvalid(SKILL_MD, f"its frontmatter is not valid YAML{at}") from None
    except RecursionError:
        raise SkillInvalid(SKILL_MD, "its frontmatter nests too deeply") from None
    if not isinstance(front, dict):
        raise SkillInvalid(SKILL_MD, "its frontmatter must be a mapping of fields (name: …, description: …)")
    unknown = sorted(str(k) for k in front if k not in FIELDS)
    if unknown:
        raise SkillInvalid(unknown[0], f"is not a field of the Agent Skills format; use {', '.join(FIELDS)}")
    name = check_name(front.get("name"), folder)
    description = _text_field(front, "description", DESCRIPTION_MAX, required=True)
    _text_field(front, "license", LICENSE_MAX)
    _text_field(front, "compatibility", COMPATIBILITY_MAX)
    tools = check_allowed_tools(front)
    metadata = front.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and all(isinstance(k, str) and isinstance(v, str) and len(k) + len(v) <= 1000 for k, v in metadata.items())
    ):
        raise SkillInvalid("metadata", "must map text keys to text values (quote numbers and dates)")
    if not body.strip():
        raise SkillInvalid(SKILL_MD, "has no instructions after its frontmatter")
    return ParsedSkill(name, description, body, front, tools)


def compose(name: str, description: str, body: str) -> str:
    """A SKILL.md text for a name, description and body (the frontmatter dumped safely)."""
    front = yaml.safe_dump({"name": name, "description": description}, sort_keys=False, allow_unicode=True)
    return f"{FRONT}\n{front}{FRONT}\n\n{body.strip()}\n"


def check_path(path: object) -> str:
    """A file's path inside its skill's folder, normalised; refused when it could leave the folder or name git's."""
    if not isinstance(path, str) or not path.strip():
        raise SkillInvalid("files", "a file has no path")
    if len(path) > MAX_PATH or "\x00" in path or "\\" in path or any(ord(c) < 32 for c in path):
        raise SkillInvalid(path[:MAX_PATH], "is not a valid path: too long or with a backslash or control character")
    pure = PurePosixPath(path)
    if pure.is_absolute() or path.startswith("/"):
        raise SkillInvalid(path, "is absolute; paths are relative to the skill's folder")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        raise SkillInvalid(path, "names no file")
    if ".." in parts:
        raise SkillInvalid(path, "leaves the skill's folder (..)")
    if any(p.lower() == ".git" for p in parts):
        raise SkillInvalid(path, "is inside a git repository; a skill holds no nested repository")
    clean = "/".join(parts)
    if clean == SKILL_MD:
        raise SkillInvalid(path, "is the skill's SKILL.md, given separately")
    return clean


def check_files(files: dict[str, bytes]) -> dict[str, bytes]:
    """A skill's files besides SKILL.md, by checked path, within the limits of count and size."""
    if len(files) > MAX_FILES:
        raise SkillInvalid("files", f"a skill holds at most {MAX_FILES} files besides SKILL.md, not {len(files)}")
    checked: dict[str, bytes] = {}
    total = 0
    for path, content in files.items():
        clean = check_path(path)
        if len(content) > MAX_FILE:
            raise SkillInvalid(clean, f"is {len(content):,} bytes; a skill's file holds at most {MAX_FILE:,}")
        if clean in checked:
            raise SkillInvalid(clean, "is given twice")
        total += len(content)
        checked[clean] = bytes(content)
    for clean in checked:
        parent = clean.rsplit("/", 1)[0] if "/" in clean else ""
        while parent:
            if parent in checked:
                raise SkillInvalid(clean, f"is inside {parent!r}, which is a file")
            parent = parent.rsplit("/", 1)[0] if "/" in parent else ""
    if total > MAX_TOTAL:
        raise SkillInvalid("files", f"hold {total:,} bytes together; a skill holds at most {MAX_TOTAL:,}")
    return dict(sorted(checked.items()))
