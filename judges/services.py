"""Verification and the human gate. The verdict is advisory; only a person's review ends an agent's work.

Nothing reaches the target branch without a passing verification and a person's approval (or the task's
explicit auto-approve policy with a unanimous panel). Every decision, refused ones included, is audited.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from agents import lease, permissions, sandbox, served, services, worker_disk, worktrees
from agents.models import Agent
from agents.services import ServiceError
from agents.signals import awaiting_decision, work_submitted
from judges import bestof, cycles, integration, investigator, landing, merge, panel, testruns
from judges.models import Review, Verdict, tests_flagged
from judges.verify_queue import claim_verification, lost_verifications, mark_queued, unmark_queued  # noqa: F401

log = logging.getLogger(__name__)


AUTO_APPROVED = "auto-approved: verification passed and the panel was unanimous"


def verify_submission(agent_id: int, commit_sha: str, summary: str) -> Verdict | None:
    """Run the verification on the submitted commit, gather evidence, ask the panel, recommend.

    Returns None when another worker is already verifying this submission."""
    if not claim_verification(agent_id, commit_sha):
        return None
    lease.keep_verifying(agent_id)  # a verification may outlast the lease (a loaded machine, a long verify command)
    try:
        return _verify(agent_id, commit_sha, summary)
    finally:
        lease.done_verifying(agent_id)
        Agent.objects.filter(pk=agent_id).update(lease_expires_at=None)
        _verify_moved(agent_id, commit_sha, summary)


def _verify_moved(agent_id: int, commit_sha: str, summary: str) -> None:
    """Its auto-approval found the target moved (a sibling merged first) and brought the work up to date while this
    verification held it: the new commit's verification is queued now that it is let go (mark_queued refused it)."""
    moved = (
        Agent.objects.filter(pk=agent_id, status=Agent.Status.AWAITING_REVIEW)
        .exclude(submitted_commit=commit_sha)
        .values_list("submitted_commit", flat=True)
        .first()
    )
    if moved:
        work_submitted.send(sender=Agent, agent_id=agent_id, commit_sha=moved, summary=summary)


def _verify(agent_id: int, commit_sha: str, summary: str) -> Verdict:
    agent = Agent.objects.select_related("task", "task__repo", "profile").get(pk=agent_id)
    task = agent.task
    command = agent.verify_command  # a spawned worker's own, else the task's
    services.record_event(agent.pk, "verification", {"state": "started", "command": command}, activity="being verified")
    reasons: list[str] = []
    verify, tests = None, None
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
                verify, tests = testruns.run(checkout, command)
                word = "passed" if verify["exit_code"] == 0 else f"failed with exit code {verify['exit_code']}"
                reasons.append(f"`{command}` {word} at commit {commit_sha[:10]}")
            except sandbox.SandboxUnavailable as exc:
                reasons.append(f"verification could not run: {exc}")
        checks = panel.criterion_checks(agent, checkout)
    evidence = panel.gather_evidence(agent, commit_sha, verify, diff, diff_stat, checks, repo_dir=local)
    if verify and verify["exit_code"] == 0:  # a failing run is rejected anyway: the base is run only when it counts
        changed = [row["path"] for row in diff_stat]
        evidence.update(testruns.compare_with_base(agent, commit_sha, command, tests, local or task.repo.path, changed))
        reasons += evidence["test_flags"]
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
    source = local or task.repo.path  # an investigating judge checks out the commit from here
    opinions = [  # unsaved: saved with the verdict
        investigator.investigate(verdict, judge, evidence, diff, source)
        if judge.investigates
        else panel.ask(verdict, judge, evidence, diff)
        for judge in judges
    ]
    recommendation = panel.aggregate(
        task.judge_rule, verify_passed, [o.recommendation for o in opinions], flagged=bool(tests_flagged(evidence))
    )
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
    if cycles.continue_in_new_cycle(verdict):  # a planner the judges send back: its next cycle, fresh
        verdict.refresh_from_db()
        return verdict
    if verify_passed and auto_approvable(verdict):
        auto_approve(verdict)
    if verdict.status == Verdict.Status.PENDING:  # a person decides: tell those who want to know (notifications)
        label = verdict.get_recommendation_display()
        transaction.on_commit(
            lambda: awaiting_decision.send(
                sender=Agent, agent_id=agent.pk, verdict_id=verdict.pk, recommendation=label
            ),
            robust=True,
        )
    return verdict


def auto_approvable(verdict: Verdict) -> bool:
    """The task's auto-approve policy holds for this verdict: verification passed on a submission that changes files,
    the panel recommends approval (no test flag) and every judge of it approved."""
    recommendations = [j.recommendation for j in verdict.judgements.all()]
    return bool(
        verdict.agent.task.auto_approve
        and verdict.recommendation == Verdict.Recommendation.APPROVE  # never over a flag (judges/testruns.py)
        and verdict.verification_passed
        and verdict.evidence.get("diff_stat")
        and recommendations
        and all(r == "approve" for r in recommendations)
    )


def auto_approve(verdict: Verdict) -> None:
    """Approve under the auto-approve policy where the person's repository is: here, or, on a worker with a disk of
    its own, in the web process (judges/internal.py), which merges the branch the worker pushed to it. A web process
    that cannot be reached leaves the verdict to a person."""
    if worker_disk.merges_here():
        try:
            review_verdict(verdict, None, "approve", AUTO_APPROVED)
        except ServiceError as exc:  # its target moved (a sibling merged first): it is verified again, or told
            log.info("verdict %s not auto-approved now: %s", verdict.pk, exc.message)
    else:
        status, answer = worker_disk.post_to_web(f"/internal/verdicts/{verdict.pk}/auto-approve")
        if status != 200:
            log.warning("verdict %s left to a person: the web process answered %s: %s", verdict.pk, status, answer)
        verdict.refresh_from_db()


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
    landed = landing.land_first(verdict, user)  # the target moved since verification: nothing merges at this click
    if landed.outcome == "conflict":
        _audit(verdict, user, "approve", comment, "conflict: sent back to the agent to resolve", line_comments)
    if landed.message:
        raise ServiceError(landed.message, 409)
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
    target = agent.merge_target  # a spawned worker's planner's branch, else the task's target
    try:
        before = integration.before_merge(agent)  # a planner's worktree: its own changes committed first
        merged = merge.merge(
            task.repo.path,
            target,
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
            f"approved by {who}; merged into {target} ({merged[:10]})",
            activity="work accepted and merged",
        )
        if task.best_of_n:  # first: the other attempts are closed, not brought up to date by the landing job
            bestof.close_others(verdict, user, who)
        integration.after_merge(agent, before, merged)  # its planner's worktree follows, and the planner is told
        landing.after_merge(task.repo_id, target)  # the pending work behind it catches up
    verdict.refresh_from_db()
    return verdict


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
