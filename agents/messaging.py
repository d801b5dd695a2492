"""What a person's message to an agent does, by the agent's state: said on the form before it is sent (`offer`),
applied by `send`, and told back by the API. One home for the rule; the pages and the API both call `send`.

- Working (queued, preparing, running): delivered at its next step, in the mode chosen (queue, steer, interrupt).
- Awaiting review: it waits, and the agent reads it when it resumes, which a reviewer's rejection does. A person who
  may both message and decide may instead withdraw the submission and continue with the message: the pending verdict
  is superseded and audited (by the judges app, registered here with `register_withdrawal`), the agent runs again.
- Paused or in error: delivered when it resumes; the sender may resume it with the message (not one paused with a
  budget used up: it would pause again at once; more budget resumes it).
- Paused on its own question (`ask_person`): the message is the answer; sending it resumes the agent, and anyone who
  may message may answer (the agent asked for exactly that).
- Stopped: refused, unless the sender resumes it with the message (while its worktree is still there).
- Accepted: refused; its work was merged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import models, transaction
from django.utils.module_loading import import_string

from agents import permissions, services
from agents.errors import FieldError
from agents.models import Agent, Message


class Then(models.TextChoices):
    QUEUE = "queue", "send"
    RESUME = "resume", "resume with this message"
    WITHDRAW = "withdraw", "withdraw the submission and continue with this message"


class When(models.TextChoices):
    NEXT_STEP = "next_step", "at the agent's next step"
    AFTER_REVIEW = "after_review", "when the agent resumes after a reviewer rejects its submission"
    ON_RESUME = "on_resume", "when the agent resumes"
    REFUSED = "refused", "not sent"


_withdrawal_path = ""
WORKING = {Agent.Status.QUEUED, Agent.Status.PREPARING, Agent.Status.RUNNING}  # a message lands at its next step


def register_withdrawal(path: str) -> None:
    """The function that withdraws an agent's submission awaiting review: `withdraw(agent, user)`, called inside the
    transaction that resumes the agent with the message; it raises ServiceError when there is nothing to withdraw."""
    global _withdrawal_path
    _withdrawal_path = path


@dataclass(frozen=True)
class Offer:
    """What the message form says and lets a person choose for this agent now."""

    when: str  # what a plain send does (When)
    note: str  # said before sending; "" for a working agent
    choices: list[tuple[str, str]] = field(
        default_factory=list
    )  # (Then value, label) the person may pick; first: default


# What a plain send does, by status alone (a paused agent's budget changes what it may choose, never when it reads):
# the one rule `_state` tells from, and `send` checks the status the sender saw against.
WHEN = {
    **dict.fromkeys(WORKING, When.NEXT_STEP),
    Agent.Status.AWAITING_REVIEW: When.AFTER_REVIEW,
    Agent.Status.PAUSED: When.ON_RESUME,
    Agent.Status.ERROR: When.ON_RESUME,
}


def _when(status: str) -> str:
    return WHEN.get(status, When.REFUSED)


def _state(agent: Agent) -> tuple[str, str, set[str]]:
    """(what a plain send does, the sentence that says so, the other choices the state allows)."""
    name, status, when = agent.name, agent.status, _when(agent.status)
    if status in WORKING:
        return when, "", set()
    if status == Agent.Status.AWAITING_REVIEW:
        note = (
            f"{name} is awaiting review. Your message waits: {name} reads it when it resumes, which happens when a "
            f"reviewer rejects its submission. If the work is approved, {name} stops and never reads it."
        )
        return when, note, {Then.WITHDRAW} if _withdrawal_path else set()
    if agent.needs_budget:
        note = (
            f"{name} is paused: {agent.budget_stop().sentence}. Your message is delivered when it "
            "resumes, once a person grants more budget."
        )
        return when, note, set()
    if agent.question:
        return when, f"{name} asks: “{agent.question}” Your answer resumes it.", {Then.RESUME}
    if status in {Agent.Status.PAUSED, Agent.Status.ERROR}:
        why = "paused" if status == Agent.Status.PAUSED else "stopped on an error"
        reason = f" ({agent.status_reason})" if agent.status_reason else ""
        return when, f"{name} is {why}{reason}. Your message is delivered when it resumes.", {Then.RESUME}
    if status == Agent.Status.STOPPED and agent.worktree:
        note = f"{name} has finished (stopped); it takes no more messages. You may resume it with this one."
        return when, note, {Then.RESUME}
    if status == Agent.Status.STOPPED:
        note = (
            f"{name} has finished (stopped); it takes no more messages. Its worktree was cleaned up, so it cannot "
            "resume."
        )
        return when, note, set()
    return when, f"{name} has finished ({agent.get_status_display()}); it takes no more messages.", set()


def _may(user, agent: Agent, then: str) -> bool:
    can = permissions.grants(user, agent.task.team_id)  # an API token's scope narrows the role, as on sending
    if then == Then.RESUME and not agent.question:
        return can.message and can.control
    if then == Then.WITHDRAW:
        return can.message and can.review
    return can.message


def offer(agent: Agent, user) -> Offer:
    when, note, others = _state(agent)
    later = {When.AFTER_REVIEW: "when it resumes after a rejection", When.ON_RESUME: "when it resumes"}
    labels = {
        Then.QUEUE: f"Send it; {agent.name} reads it {later[when]}" if when in later else "Send",
        Then.RESUME: f"Answer; {agent.name} continues" if agent.question else f"Resume {agent.name} with this message",
        Then.WITHDRAW: "Withdraw the submission and continue with this message",
    }
    allowed = ([Then.QUEUE] if when != When.REFUSED else []) + [t for t in (Then.RESUME, Then.WITHDRAW) if t in others]
    if agent.question:
        allowed.reverse()  # the answer first: what the agent waits for
    return Offer(when, note, [(t.value, labels[t]) for t in allowed if _may(user, agent, t)])


def _refuse(message: str, status: int = 409) -> FieldError:
    return FieldError("then", message, status, named=False)


def send(
    agent: Agent,
    text: str,
    *,
    author,
    then: str = Then.QUEUE,
    mode: str = Message.Mode.QUEUE,
    client_msg_id: str | None = None,
    seen: str | None = None,
) -> tuple[Message, str]:
    """A person's message, with what it does by the agent's state; returns the message and when it is delivered.

    `seen` is the status the sender's form showed: if what a plain send does has changed since, nothing is sent and
    the refusal says what would happen now (never a message queued for a moment the sender was not told of)."""
    if then not in Then.values:
        raise _refuse(f"then must be one of {', '.join(Then.values)}.", 400)
    client_msg_id = (client_msg_id or "").strip() or None
    if client_msg_id:  # a resent form or API call answers with the message already sent, whatever happened since
        existing = services.message_for_client_id(agent, client_msg_id)
        if existing is not None:
            return existing, When.NEXT_STEP if existing.state != Message.State.QUEUED else _when(agent.status)
    if not _may(author, agent, then):
        needs = ("message", "review") if then == Then.WITHDRAW else ("message",)
        scoped = next(filter(None, (permissions.scope_refusal(author, action) for action in needs)), "")
        roles = "operators and admins" if then != Then.WITHDRAW else "admins (who may both message and review)"
        raise _refuse(scoped or f"Your role may not {Then(then).label} here; only {roles} may.", 403)
    with transaction.atomic():
        agent = Agent.objects.select_for_update().select_related("task").get(pk=agent.pk)
        if not _may(author, agent, then):  # answered by someone else meanwhile: resuming is a control action again
            raise _refuse(f"{agent.name} is now {agent.get_status_display()}. Nothing was sent; choose again.")
        when, note, others = _state(agent)
        if seen and seen != agent.status and _when(seen) != when:
            raise _refuse(f"{agent.name} is now {agent.get_status_display()}. {note} Nothing was sent; choose again.")
        if then == Then.QUEUE:
            if when == When.REFUSED:
                hint = f" Send it with “{Then.RESUME.label}” instead." if Then.RESUME in others else ""
                raise _refuse(note + hint)
            mode = mode if when == When.NEXT_STEP else Message.Mode.QUEUE  # steer and interrupt mean now
            message = services.inject_message(agent, text, author=author, mode=mode, client_msg_id=client_msg_id)
            return message, when
        if then not in others:
            raise _refuse(_unavailable(agent, then, note))
        if then == Then.WITHDRAW:  # the one way a person moves an agent awaiting review (but for a rejection)
            import_string(_withdrawal_path)(agent, author)
            services.resume(
                agent, f"submission withdrawn by {author.username}; back to work with their message", withdrawn=True
            )
        else:
            why = "answered" if agent.question else "resumed"
            services.resume(agent, f"{why} by {author.username} with a message", stopped_too=True)
        agent.refresh_from_db()
        message = services.inject_message(agent, text, author=author, client_msg_id=client_msg_id)
    return message, When.NEXT_STEP


def _unavailable(agent: Agent, then: str, note: str) -> str:
    if then == Then.RESUME and agent.needs_budget:
        return f"{note} Grant more budget to resume it."
    if then == Then.RESUME:
        return f"{agent.name} is {agent.get_status_display()}: there is nothing to resume."
    if agent.status == Agent.Status.AWAITING_REVIEW:
        return "There is no way to withdraw a submission here (the review app is not installed)."
    return f"{agent.name} is {agent.get_status_display()}, not awaiting review: there is no submission to withdraw."


def told(name: str, when: str) -> str:
    """What the sender is told once the message is sent."""
    return {
        When.NEXT_STEP: f"Sent: {name} reads it at its next step.",
        When.AFTER_REVIEW: f"Sent: {name} reads it when it resumes, after a reviewer rejects its submission.",
        When.ON_RESUME: f"Sent: {name} reads it when it resumes.",
    }[when]
