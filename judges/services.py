"""Verification and the human gate. The verdict is advisory; only a person's review ends an agent's work.

Nothing reaches the target branch without a passing verification and a person's approval (or the task's
explicit auto-approve policy with a unanimous panel). Every decision, refused ones included, is audited.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from agents import lease, permissions, sandbox, served, services, worker_disk, worktrees
from agents.models import Agent
from agents.services import ServiceError
from agents.signals import awaiting_decision
from judges import bestof, landing, merge, panel
from judges.models import Review, Verdict

log = logging.getLogger(__name__)


QUEUED = "queued"  # lease owner of a submission whose verification waits in its queue (no process holds it)


def mark_queued(agent_id: int, commit_sha: str) -> bool:
    """The submission's verification is queued: sweeps leave it alone for SWARM_VERIFY_WAIT_SECONDS (a verify
    queue may be long), after which it counts as lost and is queued again (a duplicate is harmless: see claim)."""
    now = timezone.now()
    return (
        Agent.objects.filter(pk=agent_id, status=Agent.Status.AWAITING_REVIEW, submitted_commit=commit_sha)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now) | Q(lease_owner=QUEUED))
        .update(lease_owner=QUEUED, lease_expires_at=now + timedelta(seconds=settings.SWARM_VERIFY_WAIT_SECONDS))
        == 1
    )


def unmark_queued(agent_id: int) -> None:
    """The job could not be queued (Redis unreachable): the next sweep queues it again."""
    Agent.objects.filter(pk=agent_id, lease_owner=QUEUED).update(lease_expires_at=None)


def _claim_verification(agent_id: int, commit_sha: str) -> bool:
    """One verification per submission, even when a sweeper and the submitting worker both try."""
    now = timezone.now()
    return (
        Agent.objects.filter(pk=agent_id, status=Agent.Status.AWAITING_REVIEW, submitted_commit=commit_sha)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now) | Q(lease_owner=QUEUED))
        .exclude(verdicts__commit_sha=commit_sha)
        # the owner too: a sweep frees a dead holder's lease at once, and never a live one's
        .update(lease_expires_at=now + timedelta(seconds=settings.SWARM_LEASE_SECONDS), lease_owner=lease.worker_id())
        == 1
    )


def lost_verifications(include_queued: bool = False) -> list[tuple[int, str]]:
    """Submissions whose verification died with a worker: awaiting review, no verdict, nobody on it. With
    `include_queued` (a start-up sweep: an embedded queue died with its process), also those still marked queued."""
    now = timezone.now()
    nobody = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    if include_queued:
        nobody |= Q(lease_owner=QUEUED)
    return list(
        Agent.objects.filter(status=Agent.Status.AWAITING_REVIEW)
        .exclude(submitted_commit="")
        .filter(nobody)
        .exclude(verdicts__commit_sha=F("submitted_commit"))
        .values_list("pk", "submitted_commit")
    )


def verify_submission(agent_id: int, commit_sha: str, summary: str) -> Verdict | None:
    """Run the verification on the submitted commit, gather evidence, ask the panel, recommend.

    Returns None when another worker is already verifying this submission."""
    if not _claim_verification(agent_id, commit_sha):
        return None
    try:
        return _verify(agent_id, commit_sha, summary)
    finally:
        Agent.objects.filter(pk=agent_id).update(lease_expires_at=None)


def _verify(agent_id: int, commit_sha: str, summary: str) -> Verdict:
    agent = Agent.objects.select_related("task", "task__repo", "profile").get(pk=agent_id)
    task = agent.task
    command = task.effective_verify_command
    services.record_event(agent.pk, "verification", {"state": "started", "command": command}, activity="being verified")
    reasons: list[str] = []
    verify = None
    # the pushed branch fetched here when workers have disks of their own; else the repository and worktree hold it
    local = worker_disk.verification_source(agent, commit_sha)
    try:
        diff = worktrees.diff(local or agent.worktree, agent.base_commit, commit_sha)
        diff_stat = worktrees.diff_stat(local or agent.worktree, agent.base_commit, commit_sha)
    except worktrees.GitError as exc:
        diff, diff_stat = "", []
        reasons.append(f"could not read the diff: {exc}")
    # exactly the submitted commit, in a fresh checkout: files the agent left lying around don't count
    with worktrees.detached(local or task.repo.path, commit_sha, agent.name) as checkout:
        if not command:
            reasons.append("the task has no verify command, so nothing was run")
        else:
            try:
                verify = sandbox.run(checkout, command).as_dict()
                word = "passed" if verify["exit_code"] == 0 else f"failed with exit code {verify['exit_code']}"
                reasons.append(f"`{command}` {word} at commit {commit_sha[:10]}")
            except sandbox.SandboxUnavailable as exc:
                reasons.append(f"verification could not run: {exc}")
        checks = panel.criterion_checks(agent.task, checkout)
    evidence = panel.gather_evidence(agent, commit_sha, verify, diff, diff_stat, checks, repo_dir=local)
    failed_checks = [c for c in evidence["criterion_checks"] if c.get("exit_code") != 0]
    for check in failed_checks:
        reasons.append(f"criterion check `{check['command']}` failed (exit {check.get('exit_code')})")
    verify_passed = bool(verify) and verify["exit_code"] == 0 and bool(diff_stat) and not failed_checks
    if not diff_stat:
        reasons.append("the submission changes no file")
    evidence["summary_claimed"] = summary
    judges = panel.panel_for(task, {agent.profile.family})
    verdict = Verdict(
        agent=agent,
        commit_sha=commit_sha,
        reasons=[services.clean_text(r, 2000) for r in reasons],
        evidence=services.clean_payload(evidence),
        summary=services.clean_text(summary, 4000),
        diff=services.clean_text(diff, 400_000),
        rule=task.judge_rule,
    )
    opinions = [panel.ask(verdict, judge, evidence, diff) for judge in judges]  # unsaved: saved with the verdict
    recommendation = panel.aggregate(task.judge_rule, verify_passed, [o.recommendation for o in opinions])
    if not judges:
        verdict.reasons.append("no judge panel configured: only the verify command was checked")
    for opinion in opinions:
        if opinion.recommendation != recommendation:
            verdict.reasons.append(f"{opinion.judge} ({opinion.family}) disagrees: {opinion.recommendation}")
    verdict.recommendation = recommendation
    # the verdict, its opinions and its event in one transaction: a verification cut short leaves no half verdict
    with transaction.atomic():
        Verdict.objects.filter(agent=agent, status=Verdict.Status.PENDING).update(status=Verdict.Status.SUPERSEDED)
        if bestof.closed_by_winner(agent):  # another attempt of the task won while this one was being verified
            verdict.status = Verdict.Status.SUPERSEDED
        verdict.save()
        for opinion in opinions:
            opinion.verdict = verdict
            opinion.save()
        services.record_event(
            agent.pk,
            "verdict",
            {
                "verdict_id": verdict.pk,
                "recommendation": recommendation,
                "reasons": verdict.reasons,
                "judges": [
                    {"judge": o.judge, "family": o.family, "recommendation": o.recommendation} for o in opinions
                ],
            },
            activity=f"verdict: {verdict.get_recommendation_display()}, waiting for a person"
            if verdict.status == Verdict.Status.PENDING
            else "closed: another attempt was approved",
        )
    unanimous = (
        task.auto_approve and verify_passed and opinions and all(o.recommendation == "approve" for o in opinions)
    )
    if unanimous and worker_disk.merges_here():
        review_verdict(verdict, None, "approve", "auto-approved: verification passed and the panel was unanimous")
    if verdict.status == Verdict.Status.PENDING:  # a person decides: tell those who want to know (notifications)
        label = verdict.get_recommendation_display()
        transaction.on_commit(
            lambda: awaiting_decision.send(
                sender=Agent, agent_id=agent.pk, verdict_id=verdict.pk, recommendation=label
            ),
            robust=True,
        )
    return verdict


def _audit(verdict: Verdict, user, decision: str, comment: str, outcome: str, line_comments=None) -> None:
    Review.objects.create(
        verdict=verdict,
        reviewer=user,
        decision=decision,
        comment=comment,
        line_comments=line_comments or [],
        commit_sha=verdict.commit_sha,
        outcome=outcome[:300],
    )


def _refuse(verdict: Verdict, user, decision: str, message: str, status: int = 409) -> None:
    _audit(verdict, user, decision, "", f"refused: {message}")
    raise ServiceError(message, status)


def review_verdict(verdict: Verdict, user, decision: str, comment: str = "", line_comments=None) -> Verdict:
    """A person's decision. Approve merges (or reports the conflict); reject sends everything back to the agent."""
    if decision not in {"approve", "reject"}:
        raise ServiceError("decision must be approve or reject")
    if user is not None:  # None: the task's auto-approve policy, which an admin set
        permissions.require(user, verdict.agent.task.team_id, "review")
    comment = services.clean_chars((comment or "").strip())
    line_comments = services.clean_chars([c for c in (line_comments or []) if c.get("text", "").strip()])
    if len(comment) > 20_000:
        raise ServiceError("A comment is limited to 20,000 characters.", 413)
    verdict.refresh_from_db()
    if decision == "approve":
        return _approve(verdict, user, comment, line_comments)
    refusal = verdict.rejection_refusal(has_reason=bool(comment or line_comments))
    if refusal and verdict.status == Verdict.Status.PENDING:
        raise ServiceError(refusal)  # no reason given: a form to complete (400), not a decision to audit
    if refusal:
        _refuse(verdict, user, "reject", refusal)
    return _reject(verdict, user, comment, line_comments)


def _branch_head(agent: Agent) -> str:
    try:
        served.home(agent.task.repo, agent.branch)  # workers with disks of their own: the pushed branch comes home
        return merge.branch_head(agent.task.repo.path, agent.branch)
    except worktrees.GitError:
        return ""  # a branch that cannot be read has moved as far as approval goes


def _approve(verdict: Verdict, user, comment: str, line_comments) -> Verdict:
    agent = verdict.agent
    task = agent.task
    # the rule the review buttons show (Verdict.approval_refusal), then with the branch head only git can tell
    refusal = (
        verdict.approval_refusal()
        or bestof.taken_by(task, verdict)
        or verdict.approval_refusal(head=_branch_head(agent))
    )
    if refusal:
        _refuse(verdict, user, "approve", refusal)
    _land_first(verdict, user, comment, line_comments)
    # D6: approval is a state transition: exactly one of two simultaneous clicks wins (of a best-of-N task's
    # attempts too: the task's row lock makes one approval wait for the other's claim)
    with transaction.atomic():
        if task.best_of_n:
            bestof.lock_task(task.pk)
        taken = bestof.taken_by(task, verdict)
        won = (
            0
            if taken
            else Verdict.objects.filter(pk=verdict.pk, status=Verdict.Status.PENDING).update(
                status=Verdict.Status.MERGING, decided_at=timezone.now(), decided_by=user
            )
        )
    if taken:
        _refuse(verdict, user, "approve", taken)
    if won != 1:
        _refuse(verdict, user, "approve", "This verdict was already decided.")
    who = user.username if user else "the auto-approve policy"
    try:
        merged = merge.merge(
            task.repo.path,
            task.effective_target_branch,
            verdict.commit_sha,
            f"Merge {agent.branch}: {agent.name}'s work on {task.title}\n\nApproved by {who}, verdict #{verdict.pk}.",
        )
    except (merge.MergeRefused, worktrees.GitError) as exc:
        Verdict.objects.filter(pk=verdict.pk).update(
            status=Verdict.Status.PENDING, decided_at=None, decided_by=None, merge_error=str(exc)[:2000]
        )
        _audit(verdict, user, "approve", comment, f"conflict: {exc}", line_comments)
        services.record_event(agent.pk, "merge_failed", {"verdict_id": verdict.pk, "error": str(exc)[:2000]})
        raise ServiceError(f"Not merged: {exc}. Nothing was changed.", 409) from None
    with transaction.atomic():
        Verdict.objects.filter(pk=verdict.pk).update(
            status=Verdict.Status.APPROVED, merged_commit=merged, merge_error=""
        )
        _audit(verdict, user, "approve", comment, f"merged {merged[:12]}", line_comments)
        services.set_status(
            agent.pk,
            Agent.Status.ACCEPTED,
            f"approved by {who}; merged into {task.effective_target_branch} ({merged[:10]})",
            activity="work accepted and merged",
        )
        if task.best_of_n:  # first: the other attempts are closed, not brought up to date by the landing job
            bestof.close_others(verdict, user, who)
        landing.after_merge(task.repo_id, task.effective_target_branch)  # the pending work behind it catches up
    verdict.refresh_from_db()
    return verdict


def _land_first(verdict: Verdict, user, comment: str, line_comments) -> None:
    """The target moved since this work was verified: bring it up to date first (judges/landing.py). A clean result
    is verified again and merged then, with this approval; a conflict goes back to the agent. Either way nothing is
    merged now, and the person is told which."""
    agent, target = verdict.agent, verdict.agent.task.effective_target_branch
    try:
        head = merge.branch_head(agent.task.repo.path, target)
        done = landing.refresh(verdict, head, approved_by=user)
    except worktrees.GitError as exc:
        log.warning("could not bring agent %s up to date: %s", agent.pk, exc)
        return  # the merge below says what git says
    if done.outcome == "clean":
        raise ServiceError(
            f"Not merged yet: {target} moved since this was verified. {agent.name}'s work was brought up to date "
            "with it and is being verified again; your approval stands, and it merges when that verification passes"
            " and the panel does not recommend reject.",
            409,
        )
    if done.outcome == "conflict":
        _audit(verdict, user, "approve", comment, "conflict: sent back to the agent to resolve", line_comments)
        raise ServiceError(
            f"Not merged: {agent.name}'s work conflicts with {target} in {', '.join(done.conflicts)}. It was sent "
            "back to the agent with the conflicting hunks; it resolves them and submits again.",
            409,
        )


def _reject(verdict: Verdict, user, comment: str, line_comments) -> Verdict:
    agent = verdict.agent
    feedback = _feedback(verdict, user, comment, line_comments)
    # the decision, its audit, the agent back to work and the reviewer's message: all of them or none of them
    with transaction.atomic():
        won = Verdict.objects.filter(pk=verdict.pk, status=Verdict.Status.PENDING).update(
            status=Verdict.Status.REJECTED, decided_at=timezone.now(), decided_by=user
        )
        if won == 1:
            _audit(verdict, user, "reject", comment, "sent back to the agent", line_comments)
            services.set_status(
                agent.pk, Agent.Status.RUNNING, f"rejected by {user.username}; back to work", lease_expires_at=None
            )
            services.inject_message(agent, feedback, author=user)
    if won != 1:  # outside: the refusal's audit row is kept
        _refuse(verdict, user, "reject", "This verdict was already decided.")
    verdict.refresh_from_db()
    return verdict


def _feedback(verdict: Verdict, user, comment: str, line_comments) -> str:
    """What the agent reads when its submission is rejected: the reviewer's words, then the verification's."""
    feedback = [f"{user.username} rejected your submission (commit {verdict.commit_sha[:10]})."]
    if comment:
        feedback.append(f"Reviewer's comment: {comment}")
    for c in line_comments:
        feedback.append(f"Comment on {c.get('path')} line {c.get('line')}: {c.get('text')}")
    feedback += [f"Verification: {r}" for r in verdict.reasons]
    for judgement in verdict.judgements.all():
        failed = [c for c in judgement.checklist if c.get("status") == "not_met"]
        for item in failed:
            feedback.append(f"{judgement.judge}: not met: {item.get('item')} ({item.get('evidence', '')[:200]})")
    output = (verdict.evidence.get("verify") or {}).get("output", "")
    if output and (verdict.evidence.get("verify") or {}).get("exit_code") != 0:
        feedback.append("Verify output (end):\n" + output[-1500:])
    feedback.append("Fix this, run the verify command, and submit again.")
    return "\n".join(feedback)


def withdraw_submission(agent: Agent, user) -> Verdict:
    """A person withdraws an agent's submission awaiting review so that it continues with their message: its pending
    verdict is superseded, audited as their decision. Runs inside agents.messaging.send's transaction, which then
    resumes the agent with the message (registered there by judges.apps)."""
    permissions.require(user, agent.task.team_id, "review")
    verdict = Verdict.objects.filter(agent=agent, commit_sha=agent.submitted_commit).pending().order_by("-id").first()
    if verdict is None:
        raise ServiceError(
            f"{agent.name}'s submission is still being verified: there is no verdict to withdraw yet. Send the message"
            " for when it resumes, or wait for the verdict.",
            409,
        )
    won = Verdict.objects.filter(pk=verdict.pk, status=Verdict.Status.PENDING).update(
        status=Verdict.Status.SUPERSEDED, decided_at=timezone.now(), decided_by=user
    )
    if won != 1:
        raise ServiceError("This verdict was decided meanwhile; nothing was withdrawn or sent.", 409)
    _audit(verdict, user, "withdraw", "", f"withdrawn by {user.username}: {agent.name} continues with their message")
    return verdict


def export_patch(verdict: Verdict, user) -> str:
    """The submitted work as a patch. Recorded: clean-up deletes an unmerged branch only once it was exported."""
    permissions.require(user, verdict.agent.task.team_id, "export")
    agent = verdict.agent
    try:
        served.home(agent.task.repo, agent.branch)
        text = merge.export_patch(agent.task.repo.path, agent.base_commit, verdict.commit_sha)
    except worktrees.GitError as exc:
        raise ServiceError(f"Could not export {agent.branch}: {exc}", 409) from None
    services.record_event(agent.pk, "exported", {"by": user.username, "verdict_id": verdict.pk})
    return text


def pending_in_team(team_id: int | None):
    return (
        Verdict.objects.in_team(team_id)
        .pending()
        .select_related("agent", "agent__task", "agent__profile")
        .prefetch_related("judgements")
        .order_by("created_at", "id")
    )
