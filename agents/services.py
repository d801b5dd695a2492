"""Every state change a user can see. Each saves in a transaction and broadcasts after commit."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from agents import scheduling, served, skill_library, taste, worktrees
from agents.errors import ServiceError
from agents.events import after_commit
from agents.models import Agent, Event, Message, ModelProfile, TaskSpec
from agents.signals import status_changed
from agents.text import clean_chars

log = logging.getLogger(__name__)

MAX_TEXT = 64 * 1024


# NUL (PostgreSQL text and jsonb refuse it) and lone surrogates ("\ud800" in JSON: no UTF-8 encoder takes them, so the
# DB write, a page or an API answer would fail later)
def clean_text(value: str, limit: int = MAX_TEXT) -> str:
    """Untrusted text on its way to the DB: only storable characters (`clean_chars`), bounded length."""
    value = clean_chars(value)
    if len(value) > limit:
        value = value[:limit] + f"\n… [truncated {len(value) - limit} characters]"
    return value


def clean_payload(value):
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_chars(str(k)): clean_payload(v) for k, v in value.items()}  # PostgreSQL refuses NUL in keys too
    if isinstance(value, list | tuple):
        return [clean_payload(v) for v in value]
    return value


_TAKE_SEQS = f"UPDATE {Agent._meta.db_table} SET next_seq = next_seq + %s WHERE id = %s RETURNING next_seq"


def append_events(
    agent_id: int, items: Iterable[tuple[str, dict]], header: bool | None = None, **fields
) -> list[Event]:
    """Append events to an agent's log with gapless seqs from its counter row; update fields on the row. The agent's
    header goes out with the events when `header` says, by default when fields changed (a message queued: not)."""
    items = [(kind, clean_payload(payload)) for kind, payload in items]
    changed = bool(fields) if header is None else header
    # no savepoint of its own: an error here fails the caller's whole transaction; a deleted agent is raised after it
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(_TAKE_SEQS, [len(items), agent_id])  # the counter row, moved on and locked in one statement
        row = cursor.fetchone()
        if row is not None:
            first = row[0] - len(items)
            events = [Event(agent_id=agent_id, seq=first + i, kind=k, payload=p) for i, (k, p) in enumerate(items)]
            Event.objects.bulk_create(events)
            if fields:
                Agent.objects.filter(pk=agent_id).update(**fields)
            after_commit(agent_id, [e.seq for e in events], state=changed)  # with the transaction's others
            for event in (e for e in events if e.kind == Event.Kind.STATUS):
                _announce_status(agent_id, event.payload)
    if row is None:
        raise Agent.DoesNotExist(f"agent {agent_id} does not exist")
    return events


def _announce_status(agent_id: int, payload: dict) -> None:
    status, reason = payload.get("status", ""), payload.get("reason", "")
    transaction.on_commit(
        lambda: status_changed.send(sender=Agent, agent_id=agent_id, status=status, reason=reason), robust=True
    )


def record_event(agent_id: int, kind: str, payload: dict | None = None, **fields) -> Event:
    return append_events(agent_id, [(kind, payload or {})], **fields)[0]


def set_status(agent_id: int, status: str, reason: str = "", **fields) -> Event:
    fields.setdefault("activity", reason or status.replace("_", " "))
    if status in Agent.FINISHED:
        fields["finished_at"] = timezone.now()
    return record_event(
        agent_id, "status", {"status": status, "reason": reason}, status=status, status_reason=reason, **fields
    )


def inject_message(
    agent: Agent,
    text: str,
    *,
    author=None,
    sender_agent: Agent | None = None,
    mode: str = Message.Mode.QUEUE,
    client_msg_id: str | None = None,
) -> Message:
    """Queue a message for an agent; it is delivered into its context at its next step."""
    text = (text or "").strip()
    if not text:
        raise ServiceError("A message needs some text.")
    if len(text) > 20_000:
        raise ServiceError("A message is limited to 20,000 characters.", 413)
    if mode not in Message.Mode.values:
        raise ServiceError(f"Unknown mode {mode!r}; use queue, steer or interrupt.")
    client_msg_id = (client_msg_id or "").strip() or None
    if client_msg_id:
        if len(client_msg_id) > 64:
            raise ServiceError("client_msg_id is limited to 64 characters.")
        # a retried or double-clicked send answers with the message already queued, even if the agent stopped since
        existing = message_for_client_id(agent, client_msg_id)
        if existing:
            return existing
    if agent.finished:
        raise ServiceError(f"{agent.name} has finished ({agent.get_status_display()}); it takes no more messages.", 409)
    try:
        with transaction.atomic():
            message = Message.objects.create(
                agent=agent,
                author=author,
                sender_agent=sender_agent,
                text=clean_text(text),
                mode=mode,
                client_msg_id=client_msg_id,
            )
            record_event(
                agent.pk,
                "message",
                {
                    "message_id": message.pk,
                    "text": message.text,
                    "sender": sender_agent.name if sender_agent else (author.username if author else "Swarm"),
                    "from_agent": bool(sender_agent),
                    "mode": mode,
                },
            )
    except IntegrityError:
        # two sends with the same client id raced past the check above: the first one won
        existing = message_for_client_id(agent, client_msg_id) if client_msg_id else None
        if existing is None:
            raise
        return existing
    # a waiting agent (paused, awaiting review) reads it when it resumes: agents/messaging.py says so and offers more
    transaction.on_commit(lambda: scheduling.kick(agent.pk))
    return message


def message_for_client_id(agent: Agent, client_msg_id: str) -> Message | None:
    """The agent's message sent with this client id (a resent form or API call), if any."""
    return Message.objects.filter(agent=agent, client_msg_id=client_msg_id).first()


def take_queued_messages(agent_id: int) -> list[Message]:
    """Claim every queued message of an agent for delivery, exactly once (conditional update per row)."""
    delivered = []
    for message in Message.objects.filter(agent_id=agent_id, state=Message.State.QUEUED).order_by("id"):
        claimed = Message.objects.filter(pk=message.pk, state=Message.State.QUEUED).update(
            state=Message.State.DELIVERED, delivered_at=timezone.now()
        )
        if claimed == 1:
            message.state = Message.State.DELIVERED
            delivered.append(message)
    return delivered


def mark_answered(agent_id: int) -> list[int]:
    """The agent's turn after delivery answers every message delivered to it; returns their ids."""
    ids = list(Message.objects.filter(agent_id=agent_id, state=Message.State.DELIVERED).values_list("pk", flat=True))
    Message.objects.filter(pk__in=ids, state=Message.State.DELIVERED).update(
        state=Message.State.ANSWERED, answered_at=timezone.now()
    )
    return ids


def launch_task(task: TaskSpec) -> list[Agent]:
    """Create the task's named agents and answer: each is *preparing* until its branch and worktree exist, which the
    scheduling backend has made in the background (agents.preparation); each starts as soon as its own is ready.

    Every agent starts from the same commit, the head of the branch its work is merged into (the task's target
    branch, by default the repository's default branch) now."""
    if task.agents.exists():
        raise ServiceError("This task has already been launched.", 409)
    if task.repo.not_ready_reason():  # a clone still on its way, or failed: no commit to start agents from
        raise ServiceError(task.repo.not_ready_reason() + " Nothing was launched.", 409)
    roster = task.roster or []
    if task.planner:  # one planner instead of the roster: it spawns its workers (agents/planner.py)
        roster = [
            {"name": task.planner.get("name") or "Planner", "profile": task.planner.get("profile"), "role": "planner"}
        ]
    if not roster:
        raise ServiceError("Add at least one agent (name and model profile) before launching.")
    profiles = {p.name: p for p in ModelProfile.objects.in_team(task.team_id)}
    missing = sorted({r["profile"] for r in roster if r["profile"] not in profiles})
    if missing:
        raise ServiceError(f"Unknown model profile(s): {', '.join(missing)}.")
    try:
        base = worktrees.base_commit(task.repo, task.effective_target_branch)
    except worktrees.GitError as exc:
        raise ServiceError(
            f"Could not read branch {task.effective_target_branch} of {task.repo.name}, nothing was launched: {exc}",
            409,
        ) from None
    with transaction.atomic():
        claimed = TaskSpec.objects.filter(pk=task.pk, launched_at=None).update(launched_at=timezone.now())
        if claimed != 1:
            raise ServiceError("This task has already been launched.", 409)
        skill_library.pin(task)  # its agents work with these versions, whatever edits come later
        taste.pin(task)
        now = timezone.now()
        agents = Agent.objects.bulk_create(
            Agent(
                task=task,
                name=r["name"],
                role=r.get("role", "worker"),
                profile=profiles[r["profile"]],
                status=Agent.Status.PREPARING,
                activity="waiting for its worktree",
                base_commit=base,
                next_step_at=now,  # queued for preparation now (the sweep's measure of a lost preparation)
            )
            for r in roster
        )
        ids = [a.pk for a in agents]  # both databases return the new rows' ids from the insert
        if served.enabled():  # started on the workers' disks, each by the first worker to run its step
            return _publish(task, agents, base)
        transaction.on_commit(lambda: scheduling.prepare(ids))
    if Agent.objects.filter(pk__in=ids, status=Agent.Status.PREPARING).count() != len(ids):
        return list(Agent.objects.filter(task=task).select_related("profile"))  # made at once (manual scheduler)
    return agents


def _publish(task: TaskSpec, agents: list[Agent], base: str) -> list[Agent]:
    """launch_task with SWARM_WORKER_DISK=local: each agent's branch is made in the bare repository served to the
    workers, at the launch's base commit; no worktree yet (workers make them on their own disks)."""
    branches = {agent.pk: worktrees.location(task.pk, agent.name)[0] for agent in agents}
    try:
        served.publish(task.repo, list(branches.values()), base)
    except worktrees.GitError as exc:
        for agent in agents:
            set_status(agent.pk, Agent.Status.ERROR, f"could not create its branch: {exc}")
        return list(Agent.objects.filter(task=task).select_related("profile"))
    for agent in agents:
        set_status(
            agent.pk,
            Agent.Status.RUNNING,
            f"started on branch {branches[agent.pk]}",
            branch=branches[agent.pk],
            base_commit=base,
            started_at=timezone.now(),
            activity="starting",
        )
    started = [a.pk for a in agents]
    transaction.on_commit(lambda: [scheduling.kick(pk, settings.SWARM_STEP_DELAY) for pk in started])
    return list(Agent.objects.filter(task=task).select_related("profile"))


def resume(agent: Agent, reason: str = "resumed", stopped_too: bool = False, withdrawn: bool = False) -> None:
    """Back to work from a pause or an error; from a stop too when a person says so with a message; from a review
    only once its submission was withdrawn in this transaction (agents/messaging.py). Refused (409) with the
    sentence of Agent.resume_refusal otherwise."""
    with transaction.atomic():
        agent = Agent.objects.select_for_update().select_related("task").get(pk=agent.pk)
        refusal = agent.resume_refusal(stopped_too=stopped_too, withdrawn=withdrawn)
        if refusal:
            raise ServiceError(refusal, 409)
        _back_to_work(agent, reason)


def _back_to_work(agent: Agent, reason: str) -> None:
    if not agent.branch and not agent.worktree:  # it never got its worktree (git failed at launch): try again
        set_status(
            agent.pk,
            Agent.Status.PREPARING,
            f"{reason}: making its worktree again",
            activity="waiting for its worktree",
            lease_expires_at=None,
            next_step_at=timezone.now(),
            finished_at=None,
        )
        transaction.on_commit(lambda: scheduling.prepare([agent.pk]))
        return
    set_status(agent.pk, Agent.Status.RUNNING, reason, lease_expires_at=None, finished_at=None)
    transaction.on_commit(lambda: scheduling.kick(agent.pk))


def pause(agent: Agent, by: str) -> None:
    """A person holds a running agent until someone resumes it; refused (409) unless it runs. A step in flight
    ends without a trace, as at a stop (the runtime saves a step only while the agent still reads as running)."""
    with transaction.atomic():
        agent = Agent.objects.select_for_update().get(pk=agent.pk)
        refusal = agent.pause_refusal()
        if refusal:
            raise ServiceError(refusal, 409)
        set_status(agent.pk, Agent.Status.PAUSED, f"paused by {by}")


def stop(agent: Agent, by: str) -> None:
    if agent.finished:
        return
    set_status(agent.pk, Agent.Status.STOPPED, f"stopped by {by}")


def grant_budget(agent: Agent, by: str) -> list[int]:
    """A person grants half the task's budget again (time, tokens and cost) to the budget that stopped an agent paused
    at it, and the agents that budget held resume; refused (409) for any other (Agent.grant_refusal): a grant never
    resumes one awaiting review or in error. Returns the ids of those it resumed.

    The budget is the agent's own, or, when a planner's tree used the planner's (Agent.budget_stop), that planner's:
    a grant to a worker alone could not let it outspend its planner. Then every agent of the tree paused by that
    budget resumes with it (not a planner waiting for its workers: their settling wakes it).

    The grant, its event and the resumptions are one transaction: no budget granted to an agent left paused."""
    with transaction.atomic():
        agent = Agent.objects.select_for_update().select_related("task").get(pk=agent.pk)
        refusal = agent.grant_refusal()
        if refusal:
            raise ServiceError(refusal, 409)
        stop, held, task = agent.budget_stop(), [agent], agent.task
        if stop.planner_id is not None:
            paused = list(
                Agent.objects.select_for_update()
                .select_related("task")
                .filter(task_id=task.pk, status=Agent.Status.PAUSED)
                .exclude(pk=agent.pk)
            )
            Agent.share_budget_tree(paused)
            held += [a for a in paused if a.needs_budget and a.budget_stop().planner_id == stop.planner_id]
        minutes = max(1, task.budget_minutes // 2)
        record_event(
            stop.planner_id or agent.pk,
            "budget_granted",
            {"by": by, "minutes": minutes, **({"for": agent.name} if stop.grant_to else {})},
            extra_minutes=F("extra_minutes") + minutes,
            extra_tokens=F("extra_tokens") + max(1000, task.budget_tokens // 2),
            extra_usd=F("extra_usd") + task.budget_usd / 2,
        )
        reason = f"{by} granted more budget" + (f" to {stop.planner}'s tree" if stop.grant_to else "")
        for one in held:
            _back_to_work(one, reason)  # even if still over: the person chose to give it more
        return [one.pk for one in held]


def granted(agent: Agent, resumed: list[int]) -> str:
    """What a grant did, for the person who asked it: who went on (a planner's tree may have held several)."""
    names = list(Agent.objects.filter(pk__in=resumed).order_by("name").values_list("name", flat=True))
    return f"Granted more budget: {', '.join(names) or agent.name} went on."


def broadcast_message(task: TaskSpec, text: str, author) -> int:
    """One person's message to every agent of a task that still works; returns how many got it."""
    sent = 0
    for agent in task.agents.exclude(status__in=Agent.FINISHED):
        inject_message(agent, text, author=author)
        sent += 1
    if not sent:
        raise ServiceError("No agent of this task is still working.", 409)
    return sent


def stop_all(task: TaskSpec, by: str) -> int:
    agents = list(task.agents.exclude(status__in=Agent.FINISHED))
    for agent in agents:
        stop(agent, by)
    return len(agents)


def clean_up(agent: Agent, by: str, delete_branch: bool = False) -> str:
    """Remove a finished agent's worktree. Its branch goes only when merged, or when a person insists
    after the work was exported; otherwise the branch stays and nothing is lost."""
    refusal = agent.clean_up_refusal()
    if refusal:
        raise ServiceError(refusal, 409)
    repo = agent.task.repo
    try:
        served.home(repo, agent.branch)  # workers with disks of their own: the branch comes into the repository
    except worktrees.GitError as exc:
        raise ServiceError(f"Clean-up failed, nothing was deleted: {exc}", 409) from None
    if delete_branch and not worktrees.is_merged(repo.path, agent.branch, agent.merge_target):
        if not agent.events.filter(kind="exported").exists():
            raise ServiceError(
                f"{agent.branch} has work that is neither merged nor exported; export it as a patch first,"
                " or keep the branch.",
                409,
            )
    # with disks of their own the work was pushed at every commit: the worktree on the worker's disk is only a copy
    worktree = "" if served.enabled() else agent.worktree
    try:
        summary = worktrees.remove(repo.path, worktree, agent.branch, delete_branch)
        if delete_branch:
            served.delete_branch(repo, agent.branch)
    except worktrees.GitError as exc:
        raise ServiceError(f"Clean-up failed, nothing was deleted: {exc}", 409) from None
    record_event(agent.pk, "cleanup", {"by": by, "summary": summary}, worktree="", activity="cleaned up")
    return summary
