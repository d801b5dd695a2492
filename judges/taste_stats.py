"""Which taste rules fail most: over a task's or a team's judgements, each rule with how often a judge scored it
not met and met, out of how often it was scored (the newest judgements, bounded), and the taste guide versions that
hold it. The task and team pages and the API (judges/api_pages.py) read the same rows."""

from __future__ import annotations

from agents.models import TasteVersion
from judges.models import Judgement, Verdict

RECENT = 2_000  # judgements read at most
SHOWN = 10  # rows a page shows; the API pages through all of them


def failing_rules(team_id: int, task_id: int | None = None, limit: int | None = SHOWN) -> list[dict]:
    """[{rule, failed, met, scored, versions}], most failed first; only rules that failed at least once. `versions`:
    [{guide, name, number}], the pinned versions (the task's, or those of any of the team's tasks) holding the
    rule. `limit` None: every such rule."""
    verdicts = Verdict.objects.in_team(team_id)
    if task_id is not None:
        verdicts = verdicts.filter(agent__task_id=task_id)
    rows = Judgement.objects.filter(verdict__in=verdicts).order_by("-pk").values_list("checklist", flat=True)
    counts: dict[str, list[int]] = {}
    for checklist in rows[:RECENT]:
        for item in checklist if isinstance(checklist, list) else []:
            if not isinstance(item, dict) or item.get("kind") != "taste" or not isinstance(item.get("item"), str):
                continue
            seen = counts.setdefault(" ".join(item["item"].split())[:300], [0, 0, 0])
            seen[2] += 1
            seen[0] += item.get("status") == "not_met"
            seen[1] += item.get("status") == "met"
    ranked = sorted(((r, *n) for r, n in counts.items() if n[0]), key=lambda t: (-t[1], -t[1] / t[3], t[0]))
    ranked = ranked[:limit] if limit is not None else ranked
    holding = _versions_holding({_key(r) for r, *_ in ranked}, team_id, task_id)
    return [
        {"rule": r, "failed": f, "met": m, "scored": s, "versions": holding.get(_key(r), [])} for r, f, m, s in ranked
    ]


def _key(rule: str) -> str:
    return " ".join(rule.split())[:300].casefold()  # as judges/panel.py matches a scored rule to the guide's


def _versions_holding(keys: set[str], team_id: int, task_id: int | None) -> dict[str, list[dict]]:
    """For each rule key, the pinned taste versions whose rules include it, by guide name and number."""
    versions = TasteVersion.objects.in_team(team_id)
    versions = versions.filter(pinned_by=task_id) if task_id is not None else versions.filter(pinned_by__isnull=False)
    found: dict[str, list[dict]] = {}
    if not keys:
        return found
    for v in versions.distinct().select_related("guide").order_by("guide__name", "guide_id", "number"):
        for rule in {_key(r) for r in v.rules} & keys:
            found.setdefault(rule, []).append({"guide": v.guide_id, "name": v.guide.name, "number": v.number})
    return found
