"""Versioned taste: each save that changes a guide's rules makes a new version (TasteVersion), a task pins the
versions of its guides at launch, and its agents' prompts and its judges read the pinned rules (`task_rules`).
`diff` says what changed between two versions, rule by rule."""

from __future__ import annotations

import difflib

from agents.models import TaskSpec, TasteGuide, TasteVersion


def current(guide: TasteGuide, by=None) -> TasteVersion:
    """The version holding the guide's rules as they are now; made when the newest differs (or there is none)."""
    latest = guide.versions.order_by("-number").first()
    if latest is not None and latest.rules == list(guide.rules):
        return latest
    number = latest.number + 1 if latest is not None else 1
    return TasteVersion.objects.create(
        guide=guide, number=number, rules=list(guide.rules), created_by=by if getattr(by, "pk", None) else None
    )


def pin(task: TaskSpec) -> None:
    """At launch (inside its transaction): the task keeps the current version of each of its taste guides."""
    task.pinned_taste.set([current(g) for g in task.taste_guides.all()])


def task_rules(task: TaskSpec) -> list[str]:
    """The taste rules a task's agents follow and its judges score: the pinned ones once launched (none when it had no
    guide then; migration 0022 pinned the guides of the tasks launched before versions)."""
    if task.launched_at is not None:
        versions = task.pinned_taste.select_related("guide").order_by("guide__name", "guide_id")
        return [r for v in versions for r in v.rules]
    return [r for g in task.taste_guides.order_by("name", "id") for r in g.rules]


def diff(old: list[str], new: list[str]) -> list[tuple[str, str]]:
    """(op, rule) for each rule of either version in order: op is "kept", "added" or "removed"."""
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "equal":
            out += [("kept", r) for r in old[i1:i2]]
            continue
        out += [("removed", r) for r in old[i1:i2]]
        out += [("added", r) for r in new[j1:j2]]
    return out
