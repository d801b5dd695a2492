"""One decision on several verdicts at once (the review queue's selection, the API): each through
`services.review_verdict`, so each is checked by the same rule and audited on its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from agents import permissions, worktrees
from agents.services import ServiceError
from judges.models import Verdict
from judges.services import review_verdict

MAX_BULK = 100  # each approval merges in git: a request stays within a few seconds


@dataclass
class BulkOutcome:
    """What one bulk decision did: the verdicts decided, and each one that was not with the reason."""

    decision: str
    decided: list[Verdict] = field(default_factory=list)
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (verdict id, agent name or "", reason)

    def summary(self) -> str:
        done = "approved" if self.decision == "approve" else "rejected"
        text = f"{done.capitalize()} {len(self.decided)}"
        if self.refused:
            text += f", refused {len(self.refused)}: " + "; ".join(
                f"{name or '#' + str(pk)}: {reason}" for pk, name, reason in self.refused
            )
        return text + "."


def decide_many(user, team_id: int, ids, decision: str, comment: str = "") -> BulkOutcome:
    """One person's decision on several verdicts of one team, each through review_verdict (its own checks,
    transactions and audit row), oldest first. Approval is offered only where the rule allows it
    (Verdict.approval_refusal); the others are named with the reason and left alone. Ids of another team, or of
    no verdict, are named too and never decided."""
    if decision not in {"approve", "reject"}:
        raise ServiceError("decision must be approve or reject")
    permissions.require(user, team_id, "review")
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        raise ServiceError("Select at least one verdict.")
    if len(wanted) > MAX_BULK:
        raise ServiceError(f"Decide at most {MAX_BULK} verdicts at once; you selected {len(wanted)}.", 413)
    found = {
        v.pk: v
        for v in Verdict.objects.in_team(team_id)
        .filter(pk__in=wanted)
        .select_related("agent", "agent__task", "agent__task__repo")
        .order_by("created_at", "id")
    }
    outcome = BulkOutcome(decision)
    for pk in wanted:
        if pk not in found:
            outcome.refused.append((pk, "", "not a verdict of this team (nothing was done)"))
    for verdict in found.values():
        name = verdict.agent.name
        refusal = (
            verdict.approval_refusal()
            if decision == "approve"
            else verdict.rejection_refusal(has_reason=bool(comment.strip()))
        )
        if refusal:
            outcome.refused.append((verdict.pk, name, refusal))
            continue
        try:  # no transaction around it: a refusal the service audits must keep its audit row
            outcome.decided.append(review_verdict(verdict, user, decision, comment))
        except worktrees.GitError as exc:
            outcome.refused.append((verdict.pk, name, f"could not read the branch: {exc}"))
        except ServiceError as exc:
            outcome.refused.append((verdict.pk, name, exc.message))
    return outcome
