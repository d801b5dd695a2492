"""Which taste rules fail most: over a task's or a team's judgements, each rule with how often a judge scored it
not met, out of how often it was scored (the newest judgements, bounded)."""

from __future__ import annotations

from judges.models import Judgement, Verdict

RECENT = 2_000  # judgements read at most


def failing_rules(team_id: int, task_id: int | None = None, limit: int = 10) -> list[dict]:
    """[{rule, failed, scored}], most failed first; only rules that failed at least once."""
    verdicts = Verdict.objects.in_team(team_id)
    if task_id is not None:
        verdicts = verdicts.filter(agent__task_id=task_id)
    rows = Judgement.objects.filter(verdict__in=verdicts).order_by("-pk").values_list("checklist", flat=True)
    counts: dict[str, list[int]] = {}
    for checklist in rows[:RECENT]:
        for item in checklist if isinstance(checklist, list) else []:
            if not isinstance(item, dict) or item.get("kind") != "taste" or not isinstance(item.get("item"), str):
                continue
            seen = counts.setdefault(" ".join(item["item"].split())[:300], [0, 0])
            seen[1] += 1
            seen[0] += item.get("status") == "not_met"
    ranked = sorted(((r, f, s) for r, (f, s) in counts.items() if f), key=lambda t: (-t[1], -t[1] / t[2], t[0]))
    return [{"rule": r, "failed": f, "scored": s} for r, f, s in ranked[:limit]]
