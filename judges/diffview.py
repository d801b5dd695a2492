"""A unified diff turned into rows for the review page: files, hunks, numbered lines, highlighted, paged."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_for_filename
from pygments.util import ClassNotFound

from judges.panel import SENSITIVE

HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$")
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f]")
FILES_PER_PAGE = 20
LINES_PER_FILE = 400
_formatter = HtmlFormatter(nowrap=True, classprefix="hl-")


@dataclass
class Line:
    kind: str  # ctx, add, del, hunk
    old: int | None
    new: int | None
    html: str


@dataclass
class File:
    path: str
    lines: list[Line] = field(default_factory=list)
    added: int = 0
    removed: int = 0
    hidden: int = 0

    @property
    def sensitive(self) -> bool:
        return bool(SENSITIVE.search(self.path))

    def split_rows(self) -> list[tuple[Line | None, Line | None]]:
        """Side by side: removed lines on the left, added on the right, context on both."""
        rows: list[tuple[Line | None, Line | None]] = []
        dels: list[Line] = []
        adds: list[Line] = []

        def flush():
            for i in range(max(len(dels), len(adds))):
                rows.append((dels[i] if i < len(dels) else None, adds[i] if i < len(adds) else None))
            dels.clear()
            adds.clear()

        for line in self.lines:
            if line.kind == "del":
                dels.append(line)
            elif line.kind == "add":
                adds.append(line)
            else:
                flush()
                rows.append((line, line))
        flush()
        return rows


def _show_bidi(text: str) -> str:
    # invisible direction controls can make code read differently than it runs: make them visible
    return BIDI.sub(lambda m: f"⟪U+{ord(m.group(0)):04X}⟫", text)


def _render(text: str, lexer) -> str:
    text = _show_bidi(text)
    if lexer is None:
        return escape(text)
    return highlight(text, lexer, _formatter).rstrip("\n")


def parse(diff: str, page: int = 1) -> tuple[list[File], int]:
    """Files of one page of the diff, and the number of pages."""
    files: list[File] = []
    current: File | None = None
    lexer = None
    old = new = 0
    for raw in diff.splitlines():
        if raw.startswith("diff --git "):
            current = File(path=raw.split(" b/", 1)[-1])
            files.append(current)
            try:
                lexer = get_lexer_for_filename(current.path, stripnl=False, ensurenl=False)
            except ClassNotFound:
                lexer = None
            continue
        if current is None or raw.startswith(("--- ", "+++ ", "index ", "new file", "deleted file", "similarity")):
            continue
        on_page = (len(files) - 1) // FILES_PER_PAGE + 1 == page
        m = HUNK.match(raw)
        if m:
            old, new = int(m.group(1)), int(m.group(2))
            line = Line("hunk", None, None, escape(_show_bidi(raw)))
        elif raw.startswith("+"):
            current.added += 1
            line = Line("add", None, new, _render(raw[1:], lexer) if on_page else "")
            new += 1
        elif raw.startswith("-"):
            current.removed += 1
            line = Line("del", old, None, _render(raw[1:], lexer) if on_page else "")
            old += 1
        else:
            line = Line("ctx", old, new, _render(raw[1:], lexer) if on_page else "")
            old += 1
            new += 1
        if len(current.lines) < LINES_PER_FILE:
            current.lines.append(line)
        else:
            current.hidden += 1
    pages = max(1, (len(files) + FILES_PER_PAGE - 1) // FILES_PER_PAGE)
    page = min(max(1, page), pages)
    shown = files[(page - 1) * FILES_PER_PAGE : page * FILES_PER_PAGE]
    for f in shown:
        for line in f.lines:
            line.html = mark_safe(line.html)  # escaped above, or produced by pygments (which escapes)
    return shown, pages
