"""Best of N: every agent of a task attempts the same spec; a person compares the attempts side by side and approves
one, which closes the others (their pending verdicts superseded, the agents stopped, each with the reason, audited).

Closing runs in the approval's own transaction, after its merge succeeded (judges.services._approve), and before the
merge's landing job is queued (judges/landing.py runs on commit): the losers are closed, never brought up to date.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Max
from django.utils import timezone

from agents import services
from agents.models import Agent, TaskSpec
from judges import diffview
from judges.models import Review, Verdict

TAKEN = [Verdict.Status.MERGING, Verdict.Status.APPROVED]


def taken_by(task: TaskSpec, verdict: Verdict) -> str:
    """Why a best-of-N attempt cannot be approved (another one is being merged or was approved), or ""; the caller
    holds the task's row lock, so two approvals of two attempts never both pass."""
    if not task.best_of_n:
        return ""
    other = (
        Verdict.objects.filter(agent__task=task, status__in=TAKEN)
        .exclude(agent_id=verdict.agent_id)
        .select_related("agent")
        .first()
    )
    return f"{other.agent.name}'s attempt was approved for this best-of-N task." if other else ""


def lock_task(task_id: int) -> None:
    """Serialise what decides a best-of-N task's winner: approvals, closing, and verdicts being saved."""
    list(TaskSpec.objects.select_for_update().filter(pk=task_id).values_list("pk"))


def close_others(verdict: Verdict, user, who: str) -> list[str]:
    """Close every other attempt of the approved verdict's task; returns the names of the agents closed. Call it
    inside the approval's transaction."""
    winner = verdict.agent
    lock_task(winner.task_id)
    reason = f"{Agent.CLOSED}{winner.name}'s attempt was approved by {who}"
    closed = []
    for agent in Agent.objects.select_for_update().filter(task_id=winner.task_id).exclude(pk=winner.pk):
        pending = list(Verdict.objects.filter(agent=agent, status=Verdict.Status.PENDING))
        for loser in pending:
            Verdict.objects.filter(pk=loser.pk, status=Verdict.Status.PENDING).update(
                status=Verdict.Status.SUPERSEDED, decided_at=timezone.now(), decided_by=user
            )
            Review.objects.create(
                verdict=loser, reviewer=user, decision="close", commit_sha=loser.commit_sha, outcome=reason
            )
        if not agent.finished:  # its status event is the audit of an attempt with no verdict to close
            services.set_status(agent.pk, Agent.Status.STOPPED, reason, lease_expires_at=None)
        if pending or not agent.finished:
            closed.append(agent.name)
    return closed


def closed_by_winner(agent: Agent) -> bool:
    """A verification that ends after its agent's attempt was closed saves its verdict superseded (never pending).
    Call it inside the transaction that saves the verdict."""
    if not agent.task.best_of_n:
        return False
    lock_task(agent.task_id)
    approved = Verdict.objects.filter(agent__task_id=agent.task_id, status=Verdict.Status.APPROVED)
    return approved.exclude(agent=agent).exists()


@dataclass
class Attempt:
    agent: Agent
    verdict: Verdict | None
    files: list = field(default_factory=list)  # the diff's first page, rendered (judges/diffview.py)
    more_pages: bool = False

    @property
    def diff_stat(self) -> list[dict]:
        return (self.verdict.evidence.get("diff_stat") or []) if self.verdict else []

    @property
    def added(self) -> int:
        return _lines(self.diff_stat, "added")

    @property
    def removed(self) -> int:
        return _lines(self.diff_stat, "removed")


def _lines(diff_stat: list[dict], key: str) -> int:
    # git's numstat as text: a count, or "-" for a binary file
    return sum(int(f[key]) for f in diff_stat if str(f.get(key, "")).isdigit())


def attempts(task: TaskSpec, agents=None, diffs: bool = True) -> list[Attempt]:
    """Each agent of the task (or of `agents`, a page of them) with its latest verdict and, unless `diffs` is
    False, that verdict's diff's first page. The compare page and the API (judges/api_pages.py) both read it."""
    agents = list(task.agents.select_related("profile") if agents is None else agents)
    verdicts = Verdict.objects.filter(agent__in=[a.pk for a in agents])
    last_ids = verdicts.values("agent_id").annotate(last=Max("id")).values("last")
    latest = Verdict.objects.filter(pk__in=last_ids).prefetch_related("judgements")
    latest = {v.agent_id: v for v in (latest if diffs else latest.defer("diff"))}
    found = []
    for agent in agents:
        verdict = latest.get(agent.pk)
        files, pages = diffview.parse(verdict.diff) if verdict and diffs else ([], 1)
        found.append(Attempt(agent, verdict, files, pages > 1))
    return found
