"""Verification and the human gate. The verdict is advisory; only a person's review ends an agent's work."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from agents import sandbox, services, worktrees
from agents.models import Agent
from agents.services import ServiceError
from judges.models import Review, Verdict

log = logging.getLogger(__name__)


def verify_submission(agent_id: int, commit_sha: str, summary: str) -> Verdict:
    """Run the task's verify command on the submitted worktree, keep the evidence, recommend."""
    agent = Agent.objects.select_related("task", "task__repo").get(pk=agent_id)
    command = agent.task.effective_verify_command
    services.record_event(agent.pk, "verification", {"state": "started", "command": command}, activity="being verified")
    reasons: list[str] = []
    evidence: dict = {"summary_claimed": summary}
    try:
        evidence["diff_stat"] = worktrees.diff_stat(agent.worktree, agent.base_commit, commit_sha)
    except worktrees.GitError as exc:
        evidence["diff_stat"] = []
        reasons.append(f"could not read the diff: {exc}")
    if not command:
        recommendation = Verdict.Recommendation.NEEDS_PERSON
        reasons.append("the task has no verify command, so nothing was checked automatically")
    else:
        try:
            result = sandbox.run(agent.worktree, command)
            evidence["verify"] = result.as_dict()
            if result.exit_code == 0:
                recommendation = Verdict.Recommendation.APPROVE
                reasons.append(f"`{command}` passed (exit code 0) at commit {commit_sha[:10]}")
            else:
                recommendation = Verdict.Recommendation.REJECT
                reasons.append(f"`{command}` failed with exit code {result.exit_code} at commit {commit_sha[:10]}")
        except sandbox.SandboxUnavailable as exc:
            recommendation = Verdict.Recommendation.NEEDS_PERSON
            reasons.append(f"verification could not run: {exc}")
    if not evidence["diff_stat"]:
        if recommendation == Verdict.Recommendation.APPROVE:
            recommendation = Verdict.Recommendation.REJECT
        reasons.append("the submission changes no file")
    with transaction.atomic():
        Verdict.objects.filter(agent=agent, status=Verdict.Status.PENDING).update(status=Verdict.Status.SUPERSEDED)
        verdict = Verdict.objects.create(
            agent=agent,
            commit_sha=commit_sha,
            recommendation=recommendation,
            reasons=[services.clean_text(r, 2000) for r in reasons],
            evidence=services.clean_payload(evidence),
            summary=services.clean_text(summary, 4000),
        )
        services.record_event(
            agent.pk,
            "verdict",
            {"verdict_id": verdict.pk, "recommendation": recommendation, "reasons": verdict.reasons},
            activity=f"verdict: {verdict.get_recommendation_display()}, waiting for a person",
        )
    return verdict


def _claim(verdict: Verdict, status: str, user) -> None:
    """Exactly one decision per verdict, even with two clicks or two reviewers at once."""
    won = Verdict.objects.filter(pk=verdict.pk, status=Verdict.Status.PENDING).update(
        status=status, decided_at=timezone.now(), decided_by=user
    )
    if won != 1:
        verdict.refresh_from_db()
        raise ServiceError(f"This verdict was already decided ({verdict.status}).", 409)


def review_verdict(verdict: Verdict, user, decision: str, comment: str = "") -> Verdict:
    if decision not in {"approve", "reject"}:
        raise ServiceError("decision must be approve or reject")
    comment = (comment or "").strip()
    if len(comment) > 20_000:
        raise ServiceError("A comment is limited to 20,000 characters.", 413)
    agent = verdict.agent
    if decision == "reject" and not comment and verdict.recommendation != Verdict.Recommendation.REJECT:
        raise ServiceError("Say why you reject: the agent gets your reasons.")
    with transaction.atomic():
        if decision == "approve":
            head = worktrees.head(agent.worktree)
            if head != verdict.commit_sha:
                raise ServiceError("The branch moved after this verdict; a new verification is needed.", 409)
            _claim(verdict, Verdict.Status.APPROVED, user)
            Review.objects.create(
                verdict=verdict, reviewer=user, decision="approve", comment=comment, commit_sha=verdict.commit_sha
            )
            services.set_status(
                agent.pk, Agent.Status.ACCEPTED, f"approved by {user.username}", activity="work accepted"
            )
        else:
            _claim(verdict, Verdict.Status.REJECTED, user)
            Review.objects.create(
                verdict=verdict, reviewer=user, decision="reject", comment=comment, commit_sha=verdict.commit_sha
            )
            feedback = [f"{user.username} rejected your submission (commit {verdict.commit_sha[:10]})."]
            if comment:
                feedback.append(f"Reviewer's comment: {comment}")
            feedback += [f"Verification: {r}" for r in verdict.reasons]
            output = (verdict.evidence.get("verify") or {}).get("output", "")
            if output and verdict.recommendation == Verdict.Recommendation.REJECT:
                feedback.append("Verify output (end):\n" + output[-1500:])
            feedback.append("Fix this, run the verify command, and submit again.")
            services.set_status(
                agent.pk, Agent.Status.RUNNING, f"rejected by {user.username}; back to work", lease_expires_at=None
            )
            services.inject_message(agent, "\n".join(feedback), author=user)
    return verdict


def pending_for_teams(team_ids: list[int]):
    return (
        Verdict.objects.filter(status=Verdict.Status.PENDING, agent__task__team_id__in=team_ids)
        .select_related("agent", "agent__task", "agent__profile")
        .order_by("created_at", "id")
    )
