"""One person's action on many agents of a task at once: message, pause, resume, stop, grant budget, clean up.

Each agent goes through the same service as a one-agent action (agents/services.py), with the same role check
(agents/permissions.py), and the answer says what happened to each: "stopped 48; 2 were already finished".
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import batched

from django.db import transaction

from agents import connections, events, services
from agents.errors import ServiceError
from agents.models import Agent
from agents.permissions import require


@dataclass(frozen=True)
class Action:
    permission: str  # the agents/permissions.py action a role needs
    done: str  # "stopped 3"
    # why an agent is left alone (singular and plural phrases), or None when the service is to be called
    skip: Callable[[Agent], tuple[str, str] | None]


FINISHED = ("was already finished", "were already finished")
# resumed by a grant to another agent of the selection: its planner's tree, which held them both (services.grant_budget)
LIFTED = ("went on with that grant to its planner's tree", "went on with those grants to their planners' trees")


def _skip_finished(agent: Agent) -> tuple[str, str] | None:
    return FINISHED if agent.finished else None


def _skip_resume(agent: Agent) -> tuple[str, str] | None:
    if not agent.resume_refusal():  # the rule; the phrases below only group the refused ones for the answer
        return None
    if agent.needs_budget:
        return ("needs more budget first (grant it)", "need more budget first (grant it)")
    return ("was not paused or in error", "were not paused or in error")


def _skip_grant(agent: Agent) -> tuple[str, str] | None:
    if not agent.grant_refusal():
        return None
    return FINISHED if agent.finished else ("was not paused for budget", "were not paused for budget")


def _skip_cleanup(agent: Agent) -> tuple[str, str] | None:
    if not agent.clean_up_refusal():
        return None
    if not agent.finished:
        return ("is still working (stop it first)", "are still working (stop them first)")
    return ("was cleaned up already", "were cleaned up already")


def _skip_pause(agent: Agent) -> tuple[str, str] | None:
    return ("was not running", "were not running") if agent.pause_refusal() else None


ACTIONS: dict[str, Action] = {
    "message": Action("message", "messaged", _skip_finished),
    "pause": Action("control", "paused", _skip_pause),
    "resume": Action("control", "resumed", _skip_resume),
    "stop": Action("control", "stopped", _skip_finished),
    "grant": Action("control", "granted more budget to", _skip_grant),
    "cleanup": Action("control", "cleaned up", _skip_cleanup),
}
BATCH = 50

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    action: str
    done: int = 0
    skipped: Counter = field(default_factory=Counter)  # (singular, plural) -> how many
    errors: list[str] = field(default_factory=list)  # what a service refused, one line per agent
    follow_ups: list[tuple[Callable, bool]] = field(default_factory=list)  # committed, not yet handed over
    lifted: set[int] = field(default_factory=set)  # resumed by a grant done already

    def release(self) -> None:
        """Hand the committed batches' broadcasts to the follow-up thread."""
        follow_ups, self.follow_ups = self.follow_ups, []
        if follow_ups:
            _follow_up.put(follow_ups)

    def __str__(self) -> str:
        parts = [f"{ACTIONS[self.action].done} {self.done}"]
        for (one, many), n in self.skipped.items():
            parts.append(f"{n} {one if n == 1 else many}")
        if self.errors:
            parts.append(f"{len(self.errors)} refused: {self.errors[0]}" + (" …" if len(self.errors) > 1 else ""))
        return "; ".join(parts) + "."


def act(
    user, team_id: int, action: str, agents: Iterable[Agent], text: str = "", client_id: str = "", hold: bool = False
) -> Outcome:
    """Do the action to each agent; the role check comes first and covers them all (they are one task's). The
    broadcasts of what was written follow on a thread; with `hold` only once the caller says `outcome.release()` (a
    view, when its answer is rendered: the two would share this process's CPU)."""
    spec = ACTIONS[action]
    require(user, team_id, spec.permission)
    if action == "message" and not text.strip():
        raise ServiceError("A message needs some text.")
    outcome = Outcome(action)
    # a few dozen agents per transaction: one commit for each batch rather than one per agent, yet never a long one
    # that would hold the agents' own steps back (a clean-up runs git: one agent per transaction)
    try:
        for batch in batched(agents, 1 if action == "cleanup" else BATCH):
            with transaction.atomic():
                for agent in batch:
                    _one(outcome, spec, action, agent, user, text, client_id)
                _after_the_answer(outcome)
    except BaseException:
        outcome.release()  # the batches committed before the failure
        raise
    if not hold:
        outcome.release()
    return outcome


def _after_the_answer(outcome: Outcome) -> None:
    """Keep the broadcasts the batch's transaction makes once committed for the follow-up thread: the person's answer
    waits for the writes only. Broadcasting 50 agents one by one takes several times as long as writing their
    messages, and the log holds the events for any page that asks meanwhile. The rest (the agents' next steps,
    notices) still runs at the commit."""
    connection = transaction.get_connection()
    broadcasts = [entry for entry in connection.run_on_commit if isinstance(entry[1], events.Committed)]
    if broadcasts:  # (a savepoint rolled back took its own with it already)
        connection.run_on_commit[:] = [entry for entry in connection.run_on_commit if entry not in broadcasts]
        callbacks = [(func, robust) for _, func, robust in broadcasts]
        transaction.on_commit(lambda: outcome.follow_ups.extend(callbacks))


class _FollowUp:
    """One thread per process that runs committed batches' callbacks in the order they were handed over."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[list[tuple[Callable, bool]]] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.pid = 0

    def put(self, callbacks: list[tuple[Callable, bool]]) -> None:
        with self.lock:
            if self.pid != os.getpid():  # the first in this process (or in a forked child)
                self.pid = os.getpid()
                threading.Thread(target=self._run, name="swarm-bulk-follow-up", daemon=True).start()
        self.queue.put(callbacks)

    def _run(self) -> None:
        while True:
            for func, _robust in self.queue.get():
                try:
                    func()
                except Exception:  # as a robust on-commit callback: the others still run
                    log.exception("a bulk action's follow-up failed")
            connections.done()


_follow_up = _FollowUp()


def _one(outcome: Outcome, spec: Action, action: str, agent: Agent, user, text: str, client_id: str) -> None:
    reason = LIFTED if agent.pk in outcome.lifted else spec.skip(agent)
    if reason:
        outcome.skipped[reason] += 1
        return
    try:
        with transaction.atomic():  # a refusal (its state changed since it was read) takes back only its writes
            outcome.lifted.update(_do(action, agent, user, text, client_id) or [])
    except ServiceError as exc:
        outcome.errors.append(exc.message)
        return
    outcome.done += 1


def _do(action: str, agent: Agent, user, text: str, client_id: str) -> list[int] | None:
    """The service for one agent; for a grant, the ids of those it resumed."""
    by = user.username
    if action == "message":
        # one id for the whole send, unique per agent: a double click or a resent form queues it once
        services.inject_message(agent, text, author=user, client_msg_id=client_id or None)
    elif action == "pause":
        services.pause(agent, by)
    elif action == "resume":
        services.resume(agent, f"resumed by {by}")
    elif action == "stop":
        services.stop(agent, by)
    elif action == "grant":
        return services.grant_budget(agent, by)
    elif action == "cleanup":
        services.clean_up(agent, by)
