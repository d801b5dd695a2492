"""How a step ends (agents/runtime.py): the state it ends the run in, and the one write that frees the lease with it.

A step's end writes its time (with the pause before the next step), frees the lease and sets the agent's next state
in one UPDATE fenced by the step's token and the agent still running: there is no moment where the lease is free while
a submitted or paused agent still reads as running (a sweeper would give it another step). The runtime writes these
fields with the step's other changes where it can (`fields`), then calls `ended` in the same transaction. A step that
raised ends in `settle`: handed back, gone, or the agent in error.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import F

from agents import events, guards, lease, services, worker_disk
from agents.models import Agent
from agents.signals import work_submitted

log = logging.getLogger(__name__)


def ending(agent: Agent, submitted: str | None, state: guards.ToolState) -> dict:
    """The state a step ends the run in (paused, awaiting review), or {} when the agent goes on."""
    if state.paused:
        asked = state.paused.startswith(Agent.QUESTION_PAUSE)  # ask_person: the question is the reason
        activity = "waiting for a person's answer" if asked else state.paused[:200]
        if state.paused.startswith(Agent.WAIT_PAUSE):  # a planner's wait_for: its workers' settling resumes it
            activity = f"waiting for {state.paused[len(Agent.WAIT_PAUSE) :]}"[:200]
        return {"status": Agent.Status.PAUSED, "status_reason": state.paused, "activity": activity}
    if submitted is not None:
        commit = worker_disk.commit(agent, f"{agent.name}: {submitted[:60] or 'submission'}")
        return {
            "status": Agent.Status.AWAITING_REVIEW,
            "status_reason": "submitted: waiting for verification",
            "submitted_commit": commit,
            "handoff": state.handoff,
            "activity": "awaiting verification",
        }
    return {}


def end(
    agent: Agent,
    token: int,
    started: float,
    ending: dict | None = None,
    submitted: str | None = None,
    pause: float | None = None,
) -> bool:
    """Release the lease with the agent's next state in the same write: no moment where the lease is free while
    a submitted or paused agent still reads as running (a sweeper would give it another step). The step's time
    counts the pause before the next step (SWARM_STEP_DELAY unless `pause` says)."""
    ending = ending or {}
    saved = Agent.objects.filter(pk=agent.pk, fencing_token=token, status=Agent.Status.RUNNING).update(
        **fields(started, ending, pause)
    )
    if saved != 1:
        return False
    ended(agent, ending, submitted)
    return True


def fields(started: float, ending: dict | None = None, pause: float | None = None, keep_lease: bool = False) -> dict:
    """What a step's end writes on the agent: its time (with the pause before the next step), the lease freed, and
    the state it ends the run in, if any. `keep_lease`: only the time so far (the step goes on)."""
    if keep_lease:
        return {"elapsed_seconds": F("elapsed_seconds") + (time.monotonic() - started)}
    elapsed = time.monotonic() - started + (settings.SWARM_STEP_DELAY if pause is None else pause)
    return {"elapsed_seconds": F("elapsed_seconds") + elapsed, "lease_expires_at": None, **(ending or {})}


def ended(agent: Agent, ending: dict | None = None, submitted: str | None = None) -> None:
    """After the write that ended a step, in its transaction: the status event, the header and card, a submission."""
    if ending:
        services.record_event(agent.pk, "status", {"status": ending["status"], "reason": ending["status_reason"]})
    events.after_commit(agent.pk, [])  # header and card with this step counted, with its events: one message
    if submitted is not None:
        commit = ending["submitted_commit"]
        transaction.on_commit(
            lambda: work_submitted.send(sender=Agent, agent_id=agent.pk, commit_sha=commit, summary=submitted)
        )


def still_mine(agent_id: int, token: int) -> bool:
    return Agent.objects.filter(pk=agent_id, fencing_token=token, status=Agent.Status.RUNNING).exists()


def settle(agent_id: int, token: int, exc: Exception) -> float | None:
    """A step that raised: handed back (the process stops), gone (the lease was lost), or the agent in error."""
    if isinstance(exc, lease.HandBack):
        return hand_back(agent_id, token, exc.reason)
    if isinstance(exc, lease.LeaseLost):
        return None
    log.error("step of agent %s failed", agent_id, exc_info=exc)
    if still_mine(agent_id, token):
        services.set_status(agent_id, Agent.Status.ERROR, f"{type(exc).__name__}: {exc}"[:280], lease_expires_at=None)
    return None


def hand_back(agent_id: int, token: int, reason: str) -> float | None:
    """Free the lease (nothing of the unfinished part was saved: the next holder redoes it) and say so."""
    with transaction.atomic():
        freed = Agent.objects.filter(pk=agent_id, fencing_token=token, lease_expires_at__isnull=False).update(
            lease_expires_at=None
        )
        if freed:
            services.record_event(agent_id, "handed_back", {"reason": reason}, activity=f"handed back: {reason}")
    log.info("agent %s: step handed back (%s)", agent_id, reason)
    return 0.0 if freed else None
