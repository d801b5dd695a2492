"""The agent loop, one step at a time: one model call plus the tool calls it asks for, persisted before the next.

`start_step` is the step function of every scheduling backend (agents/scheduling/), embedded and Celery alike. It
runs in the scheduler's slot up to the model call (lease, budget, messages, compaction), puts the call in flight on
this process's loop (agents/inflight.py) and frees the slot at once; the lease stays held here. When the call is
over, `_answered` saves the turn in a continuation thread; tool calls without a command run there too, the last ending
the step (one claim and one broadcast a turn). Else it frees the lease and schedules the next step: at once for a turn
with a command (that step runs its calls, the path a step cut short by a crash takes too, without asking the model
again), else after SWARM_STEP_DELAY. A command goes in flight the same way: `_ran` saves it, and the turn's other
calls are the next step's. `begin_step` is the step for whoever schedules it otherwise.
Each guard answers one lesson from running many agents: nudges against quitting, budgets stated every step,
read-before-edit, no self-declared done, loop detection, and messages delivered in three modes.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from datetime import timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from agents import (
    conversations,
    guards,
    inflight,
    lease,
    llm,
    scheduling,
    services,
    step_end,
    tools,
    turns,
    worker_disk,
)
from agents.models import Agent, Message
from agents.prompts import INJECTED_PREFIX, system_prompt
from agents.watching import text_hook

log = logging.getLogger(__name__)
IN_FLIGHT_FULL_DELAY = 0.5  # seconds before a step refused for want of room among the calls in flight comes back


# read with the claim: whether messages wait to be delivered, and whether delivered ones wait for the turn that
# answers them (only the lease's holder delivers: none is delivered meanwhile but by this step)
_MAIL = {
    f"mail_{state.value}": Exists(Message.objects.filter(agent_id=OuterRef("pk"), state=state))
    for state in (Message.State.QUEUED, Message.State.DELIVERED)
}


def _urgent_waiting(agent_id: int, modes=(Message.Mode.STEER, Message.Mode.INTERRUPT)) -> bool:
    return Message.objects.filter(agent_id=agent_id, state=Message.State.QUEUED, mode__in=modes).exists()


def start_step(agent_id: int) -> float | None:
    """The scheduler's step function: run one step of an agent. Returns the delay before its next step, or None when
    it should not continue or when its model call or command went in flight (then its end schedules the next step)."""
    outcome = begin_step(agent_id, then=_schedule_next)
    return None if isinstance(outcome, Future) else outcome


def _schedule_next(agent_id: int, outcome: tuple[float | None, bool]) -> None:
    if outcome[0] is not None:
        scheduling.kick(agent_id, outcome[0])


def begin_step(agent_id: int, then) -> float | None | Future:
    """One step in this thread, or its part up to the model call or a command: then a Future of (the delay before
    the next step, whether that step runs tool calls), done when the call's end is saved. `then` (or None) is called
    with the agent's id and that pair once it is saved."""
    if not inflight.has_room():
        return IN_FLIGHT_FULL_DELAY  # this process waits for enough calls already: the agent comes back shortly
    with turns.turn():  # the step's own work, in turn with the others of this process (agents/turns.py)
        return _begin(agent_id, then)


def _begin(agent_id: int, then) -> float | None | Future:
    # (not the task's roster: a JSON list as long as the fleet, which nothing in a step reads)
    rows = Agent.objects.select_related("task", "task__repo", "profile").defer("task__roster").annotate(**_MAIL)
    agent = lease.claim_row(agent_id, rows)
    if agent is None:
        return None
    started, token = time.monotonic(), agent.fencing_token
    lease.keep(agent_id, token)
    outcome = None
    try:
        outcome = _step(agent, token, started, then)
        return outcome
    except Exception as exc:
        return step_end.settle(agent_id, token, exc)
    finally:
        if not isinstance(outcome, Future):
            lease.let_go(agent_id, token)


def _deliver(agent: Agent, token: int, conversation: list[dict]) -> list[Message]:
    """Claim queued messages and put them in the saved conversation in one transaction: exactly once,
    also when the worker dies right after (either both happened or neither did)."""
    with transaction.atomic():
        delivered = services.take_queued_messages(agent.pk)
        if not delivered:
            return []
        for message in delivered:
            conversation.append({"role": "user", "content": f"{INJECTED_PREFIX}{message.sender_label}] {message.text}"})
            services.record_event(
                agent.pk,
                "message_delivered",
                {"message_id": message.pk, "sender": message.sender_label, "mode": message.mode},
            )
        if not conversations.save(agent.pk, token, conversation):
            raise lease.LeaseLost  # rolls the claim back: the messages stay queued for whoever holds the lease
    return delivered


def _save(
    agent_id: int,
    token: int,
    conversation: list[dict],
    state: guards.ToolState | None = None,
    running: bool = False,
    **fields,
) -> bool:
    """Save the step's progress if this worker still holds the lease (fencing token), and, when `running`, the agent
    is still running (the write that ends a step).

    Called in one transaction with the events the progress explains: a worker killed mid-step leaves both or
    neither, so the retried step neither repeats a saved model turn or tool call nor loses one.
    """
    if state is not None:
        fields.update(_state_fields(state))
    return conversations.save(agent_id, token, conversation, running=running, **fields)


def _state_fields(state: guards.ToolState) -> dict:
    """What the agent's row keeps of its tool state (the counts since the last save are taken)."""
    refused, loops = state.take_counts()
    return {
        "files_read": sorted(state.files_read),
        "files_edited": sorted(state.files_edited),
        "recent_calls": state.recent,
        "active_skill": state.skill,
        "refused_edits": F("refused_edits") + refused,
        "loops_caught": F("loops_caught") + loops,
    }


def _hooks(agent: Agent) -> dict:
    """What the model call tells people while it runs (called in a continuation thread)."""

    def on_wait(seconds: float, reason: str) -> None:
        # a provider asked us to wait: show it on the card, and keep the lease for the wait
        until = timezone.now() + timedelta(seconds=settings.SWARM_LEASE_SECONDS + seconds)
        payload = {"seconds": round(seconds, 1), "reason": reason}
        services.record_event(
            agent.pk, "retry", payload, activity=f"waiting {seconds:.0f}s: {reason}", lease_expires_at=until
        )

    return {"on_wait": on_wait, "on_text": text_hook(agent.pk)}


def _step(agent: Agent, token: int, started: float, then) -> float | None | Future:
    conversation = conversations.load(agent.pk)
    state = guards.ToolState(agent)
    content, calls = conversations.unfinished_turn(conversation)
    over = not calls and agent.budget_stop()  # before asking the model; a turn already paid for still runs
    if over:
        services.set_status(agent.pk, Agent.Status.PAUSED, f"{over}: a person can grant more", lease_expires_at=None)
        return None
    lease.check_stop(agent.pk)
    if not calls:  # a new step: ask the model (else run the calls of its last turn, without asking again)
        try:
            if agent.mail_queued:  # (read with the claim: a message queued since waits for the next step)
                agent.mail_delivered |= bool(_deliver(agent, token, conversation))
        except lease.LeaseLost:
            return None
        return _ask(agent, token, conversation, started, then)

    return _run_calls(agent, token, started, conversation, state, content, calls, then)


def _run_calls(agent: Agent, token: int, started: float, conversation, state, content: str, calls, then):
    """Carry out a turn's tool calls, the last one ending the step; a command goes in flight (a Future)."""
    worker_disk.ensure(agent, token)  # a disk of its own: the worktree is here, built from the pushed branch if need be
    for i, call in enumerate(calls):
        lease.check_stop(agent.pk)
        if i > 0 and _urgent_waiting(agent.pk):
            if not _steered(agent, token, conversation, state, calls[i:]):
                return None
            break
        command = tools.command_in_flight(agent, call, state)
        if command is not None:  # this thread is free at once; `_ran` goes on when the command is over
            ran = partial(_ran, agent, token, started, conversation, state, content, calls[i:])
            return inflight.start(agent.pk, token, command, ran, partial(then, agent.pk) if then else None)
        close = content if i == len(calls) - 1 else None  # the turn's last call ends the step in the same write
        if not _record(
            agent, token, started, conversation, state, calls[i:], tools.carry_out(agent, call, state), close
        ):
            return None
    else:
        return _next_delay(agent.pk)
    return _turn_over(agent, token, started, conversation, content)


def _record(agent: Agent, token: int, started: float, conversation, state, calls, carried, close=None) -> bool:
    """Save the first of `calls`, carried out, with its event; end the turn there when the call ended the run (a
    submission, a pause). True when the turn goes on. With `close` (the turn's text) it is the turn's last call: the
    step ends in the same write (as `_turn_over` would after it)."""
    result_text, submitted, payload, activity = carried
    if submitted is None:  # (a submission is committed and pushed by _ending)
        worker_disk.checkpoint(agent, f"{agent.name}: {calls[0].name}")  # pushed before the call is saved
    with transaction.atomic():
        # its header goes with the step's end (`_end`, in this transaction or right after the calls): one a step
        services.record_event(agent.pk, "tool_call", payload, header=False)
        conversation.append(
            {"role": "tool", "tool_call_id": calls[0].id, "content": services.clean_text(result_text, 20_000)}
        )
        warning = state.check_loop(calls[0], result_text)
        if warning:
            conversation.append({"role": "user", "content": warning})
        ending = step_end.ending(agent, submitted, state)
        if ending:
            conversations.skip(conversation, calls[1:], "not run: the turn ended at the previous call")
        end = {}
        if close is not None and not ending:
            if guards.STOP_WORDS.search(close):
                guards.nudge(agent, close, conversation)  # it called a tool, but announced it would stop after it
            end = step_end.fields(started)
        fields = {**_state_fields(state), "activity": activity[:200]}
        if not conversations.save(agent.pk, token, conversation, running=bool(end), **fields, **end):
            # with the step's end: a person paused or stopped it since; the call is saved all the same, and the
            # step ends here (the next step's claim refuses the agent)
            if not end or not conversations.save(agent.pk, token, conversation, **fields):
                transaction.set_rollback(True)
            return False
        if ending:
            # the call and the agent's next state in one transaction: a retried step never submits twice
            step_end.end(agent, token, started, ending, submitted)
            return False
        if end:
            step_end.ended(agent)
    return True


def _steered(agent: Agent, token: int, conversation: list[dict], state, calls: list[llm.ToolCall]) -> bool:
    """Steer or interrupt: the turn stops at this tool boundary, the message goes in before anything else runs."""
    with transaction.atomic():
        conversations.skip(conversation, calls, "not run: a person sent a message first")
        services.record_event(agent.pk, "steered", {"skipped": [c.name for c in calls]})
        if not _save(agent.pk, token, conversation, state):
            transaction.set_rollback(True)
            return False
    return True


def _turn_over(agent: Agent, token: int, started: float, conversation: list[dict], content: str) -> float | None:
    """Every call of the turn answered: the step ends, and the model is asked again after SWARM_STEP_DELAY."""
    if guards.STOP_WORDS.search(content):
        with transaction.atomic():
            guards.nudge(agent, content, conversation)  # it still called a tool, but announced it would stop after it
            if not _save(agent.pk, token, conversation):
                transaction.set_rollback(True)
                return None
    if not step_end.end(agent, token, started):  # (a person's pause or stop since: the next step's claim refuses it)
        return None
    return _next_delay(agent.pk)


def _next_delay(agent_id: int) -> float:
    """After a step's end: at once when a steering message waits, else after SWARM_STEP_DELAY."""
    return 0.0 if _urgent_waiting(agent_id) else settings.SWARM_STEP_DELAY


def _ran(agent: Agent, token: int, started: float, conversation, state, content, calls, flight) -> tuple:
    """The step's end once its command is over (a continuation thread), as `_answered` is for a model call: the
    command saved with its event, and the lease freed. The turn's other calls are the next step's, at once."""
    try:
        if flight.stopped == "shutdown":
            return step_end.hand_back(agent.pk, token, "the worker is shutting down"), False
        if flight.stopped in ("lost", "stopped") or not step_end.still_mine(agent.pk, token):
            return None, False  # the command was killed (or ended as its step lost the agent): no trace
        result = None if flight.cancelled else flight.result()  # cancelled before it even started: an interrupt
        carried = tools.command_carried(agent, calls[0], state, result)
        last = len(calls) == 1
        if not _record(agent, token, started, conversation, state, calls, carried, content if last else None):
            return None, False
        if last:
            return _next_delay(agent.pk), False
        if not _urgent_waiting(agent.pk):
            return (
                0.0 if step_end.end(agent, token, started, pause=0.0) else None
            ), True  # the next step runs the others
        if not _steered(agent, token, conversation, state, calls[1:]):
            return None, False
        return _turn_over(agent, token, started, conversation, content), False
    except Exception as exc:
        return step_end.settle(agent.pk, token, exc), False
    finally:
        lease.let_go(agent.pk, token)


def _ask(agent: Agent, token: int, conversation: list[dict], started: float, then) -> Future:
    """Put the step's model call in flight (this thread is free at once); `_answered` ends the step when it is over."""
    conversation[:], compacted = llm.compact(conversation, llm.context_budget(agent.profile))
    messages = [{"role": "system", "content": system_prompt(agent)}, *conversation]
    call = llm.acomplete(agent.profile, messages, tools.offered(agent), **_hooks(agent))
    return inflight.start(
        agent.pk,
        token,
        call,
        lambda flight: _answered(agent, token, conversation, compacted, started, flight),
        partial(then, agent.pk) if then else None,
    )


def _answered(
    agent: Agent, token: int, conversation: list[dict], compacted: bool, started: float, flight: inflight.Flight
) -> tuple[float | None, bool]:
    """The step's end once its model call is over (a continuation thread): save the turn with its event (the step is
    counted here) and free the lease. Returns the delay before the next step and whether that step runs the turn's
    tool calls (the unfinished-turn path of `_step`, which never asks the model again)."""
    try:
        if flight.cancelled:  # mid-flight: the request was aborted, so there is no answer and nothing to bill
            return _cancelled(agent, token, conversation, flight.stopped), False
        try:
            turn = flight.result()
        except llm.ModelError as exc:
            services.set_status(agent.pk, Agent.Status.ERROR, f"model call failed: {exc}"[:280], lease_expires_at=None)
            return None, False
        conversation.append(turn.as_message())
        with transaction.atomic():
            if compacted:
                services.record_event(
                    agent.pk, "compaction", {"messages": len(conversation)}, activity="compacted old output"
                )
            payload = {
                "text": turn.content,
                "tokens_in": turn.tokens_in,
                "tokens_out": turn.tokens_out,
                "cost_usd": turn.cost_usd,
            }
            services.record_event(agent.pk, "model_turn", payload)
            for message_id in services.mark_answered(agent.pk) if getattr(agent, "mail_delivered", True) else ():
                services.record_event(agent.pk, "message_answered", {"message_id": message_id})
            if not turn.tool_calls:
                guards.nudge(agent, turn.content or "", conversation)
            # calls carried out here (no command among them) go on in this step, which ends with the last of them
            inline = bool(turn.tool_calls) and not any(call.name == "run_command" for call in turn.tool_calls)
            # the turn, its counts and (unless its calls go on here) the step's end in one write to the agent's row
            saved = _save(
                agent.pk,
                token,
                conversation,
                running=True,
                activity=((turn.content or "").strip().splitlines() or ["thinking"])[0][:200],
                tokens_in=F("tokens_in") + turn.tokens_in,
                tokens_out=F("tokens_out") + turn.tokens_out,
                cost_usd=F("cost_usd") + Decimal(str(turn.cost_usd)),
                steps=F("steps") + 1,
                # inline: the call's time counted now (the calls' step end counts from here), the lease kept
                **step_end.fields(started, pause=0.0 if turn.tool_calls else None, keep_lease=inline),
            )
            if not saved:
                # another worker took over, or a person stopped or paused it: this step leaves no trace
                transaction.set_rollback(True)
                return None, False
            if not inline:
                step_end.ended(agent)
        if inline:  # the turn is saved first: a crash from here on leaves its calls to the next step, not a new turn
            content, calls = conversations.unfinished_turn(conversation)
            state, now = guards.ToolState(agent), time.monotonic()
            return _run_calls(agent, token, now, conversation, state, content, calls, None), False
        if turn.tool_calls:
            return 0.0, True
        return (0.0 if _urgent_waiting(agent.pk) else settings.SWARM_STEP_DELAY), False
    except Exception as exc:
        return step_end.settle(agent.pk, token, exc), False
    finally:
        lease.let_go(agent.pk, token)


def _cancelled(agent: Agent, token: int, conversation: list[dict], why: str) -> float | None:
    if why == "shutdown":
        return step_end.hand_back(agent.pk, token, "the worker is shutting down")
    if why != "interrupt" or not step_end.still_mine(agent.pk, token):
        return None  # lost or stopped: this step leaves no trace
    # a person's interrupt: keep what was delivered, take the new message at once
    with transaction.atomic():
        services.record_event(agent.pk, "interrupted", {"what": "model call"}, activity="interrupted")
        _save(agent.pk, token, conversation, lease_expires_at=None)
    return 0.0
