"""Parallel work that lands: when the target branch moves under a submission, the host brings the submission up to
date with it, in git's object store (`merge-tree`, `commit-tree`: no checkout, nothing of the agent's run).

- Clean: the agent's branch becomes the merge of its work and the target; the pending verdict is superseded and the
  merged commit is verified again (a person's approval of the old commit carries over when that verification
  passes and the panel does not recommend reject).
- Conflict: the agent's branch and worktree get the merge with git's conflict markers; the agent goes back to work
  with a message naming each conflicting hunk; it resolves them and submits again (agents.guards refuses a submission
  that still holds markers).
- Already contained (the target has the same content): nothing to bring; approval merges as before.

Triggered after every merge into a target (the `judges.land` job, for the pending verdicts behind it) and by an
approval of a verdict the target moved under. Workers with disks of their own (SWARM_WORKER_DISK=local) keep
today's rule: the conflict is reported to the person (their worktrees are not on this host).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from agents import scheduling, services, worker_disk, worktrees
from agents.models import Agent
from agents.signals import work_submitted
from judges import merge
from judges.models import Review, Verdict

log = logging.getLogger(__name__)
LAND_JOB = "judges.land"
LANDING = "landing: "  # how the audit row of an approval carried to the re-verified commit starts
MAX_HUNKS_TEXT = 12_000


@dataclass
class Refresh:
    outcome: str  # current, contained, clean, conflict, not_here
    commit: str = ""
    conflicts: list[str] = field(default_factory=list)
    hunks: str = ""
    message: str = ""  # for the person whose approval found the target moved (land_first)


def behind(agent: Agent, target_head: str) -> bool:
    return not merge.is_ancestor(agent.task.repo.path, target_head, agent.submitted_commit)


def bring_up_to_date(agent: Agent, target_head: str) -> Refresh:
    """Merge the target's head into the agent's submitted work, moving its branch (and worktree) to the result."""
    if not worker_disk.merges_here() or not agent.worktree:
        return Refresh("not_here")
    repo, commit = agent.task.repo.path, agent.submitted_commit
    if not behind(agent, target_head):
        return Refresh("current", commit)
    tree, conflicts = merge.merge_tree(repo, target_head, commit)
    if not conflicts and tree == worktrees.git(repo, "rev-parse", f"{target_head}^{{tree}}").strip():
        return Refresh("contained", target_head)
    target = agent.merge_target
    title = f"Merge {target} into {agent.branch}" + (" (conflicts to resolve)" if conflicts else "")
    new = worktrees.git(repo, "commit-tree", tree, "-p", commit, "-p", target_head, "-m", title).strip()
    # the worktree first (its files and index follow the branch), then the branch, only if it is still the commit
    worktrees.git(agent.worktree, "read-tree", "-m", "-u", commit, new)
    try:
        worktrees.git(repo, "update-ref", "-m", "swarm: up to date", f"refs/heads/{agent.branch}", new, commit)
    except worktrees.GitError:
        worktrees.git(agent.worktree, "read-tree", "-m", "-u", new, commit, check=False)
        raise
    return Refresh("conflict" if conflicts else "clean", new, conflicts, _hunks(repo, new, conflicts))


def _hunks(repo: str, commit: str, paths: list[str]) -> str:
    """Each conflicting hunk of each file, with two lines either side, as the agent will find it in its worktree."""
    parts = []
    for path in paths:
        try:
            lines = worktrees.git(repo, "cat-file", "blob", f"{commit}:{path}").splitlines()
        except worktrees.GitError:
            parts.append(f"--- {path}: (binary or removed on one side)")
            continue
        starts = [i for i, line in enumerate(lines) if line.startswith("<<<<<<<")]
        for start in starts:
            end = next((i for i in range(start, len(lines)) if lines[i].startswith(">>>>>>>")), len(lines) - 1)
            first = max(0, start - 2)
            body = "\n".join(f"{n + 1}: {lines[n]}" for n in range(first, min(len(lines), end + 3)))
            parts.append(f"--- {path}, lines {start + 1}-{end + 1}:\n{body}")
    text = "\n".join(parts)
    return text if len(text) <= MAX_HUNKS_TEXT else text[:MAX_HUNKS_TEXT] + "\n… (more in the files)"


def refresh(verdict: Verdict, target_head: str, approved_by=None) -> Refresh:
    """Bring a pending verdict's work up to date with the target's head and act on the result (module docstring).
    `approved_by`: the person whose approval found the target moved; it carries to the re-verified commit."""
    agent = verdict.agent
    done = bring_up_to_date(agent, target_head)
    if done.outcome not in {"clean", "conflict"}:
        return done
    target = agent.merge_target
    with transaction.atomic():
        won = Verdict.objects.filter(pk=verdict.pk, status=Verdict.Status.PENDING).update(
            status=Verdict.Status.SUPERSEDED, decided_at=timezone.now(), decided_by=approved_by
        )
        if not won:
            return Refresh("current", agent.submitted_commit)  # decided meanwhile: its branch moved, a check refuses
        services.record_event(
            agent.pk,
            "brought_up_to_date",
            {"verdict_id": verdict.pk, "target": target, "commit": done.commit, "conflicts": done.conflicts},
        )
        if done.outcome == "clean":
            if approved_by is not None:
                Review.objects.create(
                    verdict=verdict,
                    reviewer=approved_by,
                    decision="approve",
                    commit_sha=verdict.commit_sha,
                    outcome=f"{LANDING}{target} moved; brought up to date and verified again, then merged if it passes",
                )
            Agent.objects.filter(pk=agent.pk).update(
                submitted_commit=done.commit,
                base_commit=target_head,
                status_reason=f"brought up to date with {target}: verifying again",
                activity="being verified again",
            )
            summary = f"(brought up to date with {target}) {verdict.summary}"
            transaction.on_commit(
                lambda: work_submitted.send(sender=Agent, agent_id=agent.pk, commit_sha=done.commit, summary=summary)
            )
        else:
            Agent.objects.filter(pk=agent.pk).update(base_commit=target_head)
            services.set_status(
                agent.pk,
                Agent.Status.RUNNING,
                f"conflicts with {target}: back to work to resolve them",
                lease_expires_at=None,
            )
            services.inject_message(agent, _conflict_message(agent, target, done))
    return done


def land_first(verdict: Verdict, user) -> Refresh:
    """An approval of work the target moved under: bring it up to date first. A clean result is verified again and
    merged then with this approval; a conflict goes back to the agent. Either way nothing is merged now, and
    `message` says which; "" when the work is current (or contained, or not on this host): merge it now."""
    agent, target = verdict.agent, verdict.agent.merge_target
    try:
        done = refresh(verdict, merge.branch_head(agent.task.repo.path, target), approved_by=user)
    except worktrees.GitError as exc:
        log.warning("could not bring agent %s up to date: %s", agent.pk, exc)
        return Refresh("current")  # the merge says what git says
    if done.outcome == "clean":
        done.message = (
            f"Not merged yet: {target} moved since this was verified. {agent.name}'s work was brought up to date "
            "with it and is being verified again; your approval stands, and it merges when that verification passes"
            " and the panel does not recommend reject."
        )
    elif done.outcome == "conflict":
        done.message = (
            f"Not merged: {agent.name}'s work conflicts with {target} in {', '.join(done.conflicts)}. It was sent "
            "back to the agent with the conflicting hunks; it resolves them and submits again."
        )
    return done


def _conflict_message(agent: Agent, target: str, done: Refresh) -> str:
    return (
        f"Your submission conflicts with {target}, which moved since you started (other work was merged). Swarm "
        f"merged {target} into your branch: your worktree now holds git's conflict markers (<<<<<<<, =======, "
        f">>>>>>>) in {', '.join(done.conflicts)}. Read each file, keep what both sides need, remove every marker, "
        "run the verify command and submit again.\n\nThe conflicting hunks (yours first, then "
        f"{target}'s):\n{done.hunks}"
    )


def land_pending(repo_id: int, target: str) -> int:
    """The job after a merge into `target`: every pending verdict of that repository and target that the new head
    is not in is brought up to date. Returns how many were."""
    moved = 0
    pending = (
        Verdict.objects.filter(status=Verdict.Status.PENDING, agent__task__repo_id=repo_id)
        .select_related("agent", "agent__task", "agent__task__repo", "agent__parent")
        .order_by("created_at", "id")
    )
    for verdict in pending:
        agent = verdict.agent
        if agent.merge_target != target or agent.submitted_commit != verdict.commit_sha:
            continue
        try:
            head = merge.branch_head(agent.task.repo.path, target)
            moved += refresh(verdict, head).outcome in {"clean", "conflict"}
        except worktrees.GitError:
            log.exception("could not bring agent %s up to date with %s", agent.pk, target)
    return moved


def after_merge(repo_id: int, target: str) -> None:
    transaction.on_commit(lambda: scheduling.submit(LAND_JOB, repo_id, target))


scheduling.register_job(LAND_JOB, "judges.landing.land_pending", scheduling.VERIFY)
