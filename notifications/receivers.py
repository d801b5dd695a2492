"""Notifications listen to the runtime and the judges (agents.signals), off the request and step path: each signal
only queues a job on the "housekeeping" queue, which records the notice and its deliveries; sweeps send what is due
and was lost."""

from __future__ import annotations

from agents import scheduling
from agents.models import Agent
from agents.signals import awaiting_decision, status_changed, sweeping
from notifications import delivery, services

STATUS_JOB, VERDICT_JOB = "notifications.status", "notifications.verdict"
TOLD = {Agent.Status.PAUSED, Agent.Status.ERROR, *Agent.FINISHED}  # the statuses a person may hear of


def _on_status(sender, agent_id: int, status: str, reason: str = "", **kwargs) -> None:
    if status in TOLD:
        scheduling.submit(STATUS_JOB, agent_id, status, reason)


def _on_verdict(sender, agent_id: int, verdict_id: int, recommendation: str = "", **kwargs) -> None:
    scheduling.submit(VERDICT_JOB, agent_id, verdict_id, recommendation)


def _on_sweep(sender, **kwargs) -> None:
    delivery.send_due()
    services.escalate_questions()


scheduling.register_job(STATUS_JOB, "notifications.services.on_status", scheduling.HOUSEKEEPING)
scheduling.register_job(VERDICT_JOB, "notifications.services.on_verdict", scheduling.HOUSEKEEPING)
scheduling.register_job(delivery.DELIVER_JOB, "notifications.delivery.deliver", scheduling.HOUSEKEEPING)
status_changed.connect(_on_status, dispatch_uid="notifications.on_status")
awaiting_decision.connect(_on_verdict, dispatch_uid="notifications.on_verdict")
sweeping.connect(_on_sweep, dispatch_uid="notifications.send_due")
