"""The roster generator of the task form: rows of "N agents of profile P", with names drawn from an editable list,
write the roster's "Name = profile" lines, which the form then checks like typed ones (forms.clean_roster is the one
rule). The preview shows what a roster's lines make: the agents by profile, or what is wrong with them.

Names are drawn in the list's order, row after row, so the preview is exactly what a save makes; once the list is
used up it starts over with a number (Ada2, Grace2, ...). The default list is agents/data/names.txt.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from itertools import count
from pathlib import Path

from django import forms

from agents import worktrees
from agents.forms import MAX_AGENTS, NAME_RE, clean_roster, parse_roster
from agents.models import ModelProfile

NAMES_FILE = Path(__file__).parent / "data" / "names.txt"
MIN_ROWS = 3  # rows the generator offers; one more than those filled, so another profile can always be added
MAX_ROWS = 50
MAX_NAMES_TEXT = 50_000


@cache
def default_names() -> str:
    return NAMES_FILE.read_text()


@dataclass
class Generator:
    """The generator's fields as the person filled them (shown back as typed), and what they make."""

    rows: list[tuple[str, str]]  # (count as typed, profile)
    names: str
    profiles: list[str]  # what a row may pick: the team's profiles
    errors: list[str] = field(default_factory=list)
    entries: list[tuple[str, str]] = field(default_factory=list)  # (name, profile), when asked to generate
    used: bool = False  # it just filled the roster (or tried to): it stays open

    @property
    def shown_rows(self) -> list[tuple[int, str, str]]:
        filled = [row for row in self.rows if row[0].strip()]
        blank = max(MIN_ROWS - len(filled), 1)
        return [(i, n, p) for i, (n, p) in enumerate(filled + [("", "")] * blank, start=1)]

    @property
    def lines(self) -> str:
        return "\n".join(f"{name} = {profile}" for name, profile in self.entries)


def read(data, profiles: list[str]) -> Generator:
    """The generator as posted (`gen_count`, `gen_profile`, `gen_names`), or as first shown when `data` is None."""
    if data is None:
        return Generator(rows=[("", profiles[0] if profiles else "")], names=default_names(), profiles=profiles)
    counts, picks = data.getlist("gen_count")[:MAX_ROWS], data.getlist("gen_profile")[:MAX_ROWS]
    rows = [(n[:6], p[:100]) for n, p in zip(counts, picks, strict=False)]
    names = data.get("gen_names", "")[:MAX_NAMES_TEXT]
    return Generator(rows=rows, names=names, profiles=profiles)


def generate(gen: Generator) -> Generator:
    """Fill `gen.entries` from its rows and names, or say in `gen.errors` why not."""
    wanted = []
    for n, profile in gen.rows:
        if not n.strip():
            continue
        if not n.strip().isdigit():
            gen.errors.append(f"“{n}” is not a number of agents.")
        elif int(n) > 0:
            wanted.append((int(n), profile))
    names = [n for n in re.split(r"[\s,;]+", gen.names) if n]
    bad = [n for n in names if not NAME_RE.match(n)]
    if bad:
        gen.errors.append(
            f"These cannot name an agent: {', '.join(bad[:10])}{' …' if len(bad) > 10 else ''}. A name starts with"
            " a letter and has at most 40 letters (a to z), digits, - or _."
        )
    total = sum(n for n, _ in wanted)
    if not wanted and not gen.errors:
        gen.errors.append("Say how many agents of which profile, in at least one row.")
    elif total > MAX_AGENTS:
        gen.errors.append(f"At most {MAX_AGENTS:,} agents per task; these rows add up to {total:,}.")
    if not names and not bad:
        gen.errors.append("Give at least one name to draw from.")
    if gen.errors:
        return gen
    pool = _names(names)
    gen.entries = [(next(pool), profile) for n, profile in wanted for _ in range(n)]
    return gen


def _names(names: list[str]) -> Iterator[str]:
    """The list's names in order, each once (ignoring case, - and _, as branches do), then again with 2, 3, ..."""
    seen = set()
    for round_ in count(1):
        suffix = "" if round_ == 1 else str(round_)
        for base in names:
            name = base[: 40 - len(suffix)] + suffix
            if worktrees.slug(name) not in seen:
                seen.add(worktrees.slug(name))
                yield name


def preview(text: str, team) -> dict:
    """What a roster's lines make: {"total", "groups": [(profile, [names])], "errors"} (the form's own rules)."""
    entries, errors = parse_roster(text)
    groups: dict[str, list[str]] = {}
    for name, profile in entries:
        groups.setdefault(profile, []).append(name)
    if entries or errors:
        try:
            clean_roster(entries, team, errors)
        except forms.ValidationError as exc:
            errors = exc.messages
        else:
            errors = []
    return {"total": len(entries), "groups": list(groups.items()), "errors": errors}


def context(form, data=None, fill: bool = False) -> dict:
    """The task form's roster block: its field, the generator (as posted, or as first shown) and the preview of the
    roster's lines. `fill`: generate from the posted rows into the (unbound) form's roster field."""
    rows = ModelProfile.objects.in_team(form.team).values_list("name", "model")
    # the workers' profiles first: judges' models are named so (as the task form's judge panel assumes)
    profiles = [name for name, model in sorted(rows, key=lambda r: ("judge" in r[1], r[0]))]
    gen = read(data, profiles)
    if fill:
        gen.used = True
        if generate(gen).entries:
            form.initial["roster_text"] = gen.lines
    return {
        "roster_field": form["roster_text"],
        "generator": gen,
        "roster_preview": preview(form["roster_text"].value() or "", form.team),
    }


def as_typed(bound) -> dict:
    """A bound form's values as the person typed them, for an unbound form to show again without flagging anything
    (the generator without JavaScript returns the page with its roster filled, before anything is checked)."""
    return {
        name: f.widget.value_from_datadict(bound.data, bound.files, bound.add_prefix(name))
        for name, f in bound.fields.items()
        if not f.disabled
    }
