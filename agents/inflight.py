"""Model calls and sandboxed commands in flight in this process, holding no thread while they wait.

One long-lived asyncio loop per process, in a daemon thread (a forked pool child starts its own), runs every model
call and every agent's command (an asyncio subprocess, agents/sandbox) as a coroutine; a few continuation threads run
the synchronous code around them (the ORM, broadcasts). "Call" below means either.

- `start(agent_id, token, call, finish, then)`: the call goes in flight; once it is over (answered, failed or
  cancelled) `finish(flight)` runs in a continuation thread, then `then(result)`. Returns a Future of the result.
- One watcher, every POLL seconds, asks the database once about every agent with a call in flight and cancels the
  calls whose step must stop: the process is stopping, another holder took the lease, the agent no longer runs,
  or a person sent an interrupt. Cancelling a call aborts its HTTP request; cancelling a command kills its sandbox.
- `has_room()`: at most SWARM_INFLIGHT_PER_PROCESS calls at once; the runtime hands a step beyond that back.
- `run(coroutine)` and `in_thread(fn, *args)`: the loop and the continuation threads, for agents/llm.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef

from agents import connections, lease, turns
from agents.models import Agent, Message

log = logging.getLogger(__name__)

POLL = 0.3  # seconds between two looks at the agents whose call is in flight
HOOK_THREADS = 1  # what runs while calls are in flight: hooks (streamed text, a provider's wait) and the watcher


def continuation_threads() -> int:
    """Threads for the calls' ends (the ORM is synchronous): one more than the turns, so that the next end is ready
    to take its turn when one is given up (agents/turns.py); 4 without turns."""
    return settings.SWARM_STEP_TURNS + 1 if settings.SWARM_STEP_TURNS else 4


@dataclass
class _Process:
    pid: int
    loop: asyncio.AbstractEventLoop
    executor: ThreadPoolExecutor  # the ends of calls: the steps' own work, in turn (agents/turns.py)
    hooks: ThreadPoolExecutor  # the rest (hooks while a call runs, the watcher's look): never behind a burst of ends


class Flight:
    """One model call or command in flight for an agent's step (its lease's fencing token)."""

    def __init__(self, agent_id: int, token: int):
        self.agent_id, self.token = agent_id, token
        self.task: asyncio.Future | None = None
        self.stopped = ""  # why it was cancelled: "shutdown", "lost", "stopped" or "interrupt"

    @property
    def cancelled(self) -> bool:
        return self.task is not None and self.task.cancelled()

    def result(self):
        """The call's answer; raises its error (asyncio.CancelledError when it was cancelled)."""
        return self.task.result()


_here: _Process | None = None
_flights: dict[int, Flight] = {}  # agent id -> its call in flight
_busy = 0  # flights not over yet, their continuations included
_cond = threading.Condition()


def _reset_after_fork() -> None:
    # the parent's loop thread, continuation threads and calls are not this process's (and a lock may be held)
    global _here, _busy, _cond
    _here, _busy, _cond = None, 0, threading.Condition()
    _flights.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


def _process() -> _Process:
    global _here
    with _cond:
        if _here is None:
            loop = asyncio.new_event_loop()
            executor = ThreadPoolExecutor(continuation_threads(), thread_name_prefix="swarm-continue")
            hooks = ThreadPoolExecutor(HOOK_THREADS, thread_name_prefix="swarm-hook")
            _here = _Process(os.getpid(), loop, executor, hooks)
            threading.Thread(target=_serve, args=(loop,), name="swarm-inflight", daemon=True).start()
        return _here


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.create_task(_watch())
    loop.run_forever()


def run(coroutine: Coroutine) -> Future:
    """Run a coroutine on this process's loop; a Future of its result (for code that waits for it)."""
    return asyncio.run_coroutine_threadsafe(coroutine, _process().loop)


def _closing(fn: Callable, *args):
    try:
        return fn(*args)
    finally:
        connections.done()


async def in_thread(fn: Callable, *args):
    """Run synchronous code (the ORM, a broadcast, a caller's hook) in a thread, from the loop."""
    return await asyncio.get_running_loop().run_in_executor(_process().hooks, _closing, fn, *args)


def _end(finish: Callable, then: Callable | None, flight: Flight):
    """A call's end, in one turn: `finish`, then `then` with its result."""
    with turns.turn():
        result = finish(flight)
        if then is not None:
            then(result)
        return result


def has_room() -> bool:
    return len(_flights) < settings.SWARM_INFLIGHT_PER_PROCESS


def in_flight() -> int:
    return len(_flights)


def start(
    agent_id: int,
    token: int,
    call: Coroutine,
    finish: Callable[[Flight], object],
    then: Callable[[object], None] | None = None,
) -> Future:
    """Put a model call in flight. When it is over, `finish(flight)` and then `then(result)` run in a continuation
    thread; the Future's result is finish's."""
    global _busy
    flight = Flight(agent_id, token)
    process = _process()
    with _cond:
        _flights[agent_id] = flight
        _busy += 1
    return asyncio.run_coroutine_threadsafe(_fly(flight, call, finish, then), process.loop)


async def _fly(flight: Flight, call: Coroutine, finish: Callable, then: Callable | None):
    global _busy
    try:
        flight.task = asyncio.ensure_future(call)
        if flight.stopped:  # the watcher came first
            flight.task.cancel()
        await asyncio.wait([flight.task])
        with _cond:
            if _flights.get(flight.agent_id) is flight:
                del _flights[flight.agent_id]
        return await asyncio.get_running_loop().run_in_executor(
            _process().executor, _closing, _end, finish, then, flight
        )
    except Exception:
        log.exception("the end of agent %s's model call failed", flight.agent_id)
        raise
    finally:
        with _cond:
            _busy -= 1
            _cond.notify_all()


async def _watch() -> None:
    while True:
        await asyncio.sleep(POLL)
        flights = {f.agent_id: f for f in list(_flights.values()) if not f.stopped}
        if not flights:
            continue
        if lease.shutting_down.is_set():
            stops = dict.fromkeys(flights, "shutdown")
        else:
            try:
                stops = await in_thread(_stops, {pk: f.token for pk, f in flights.items()})
            except Exception:
                log.exception("could not check the agents whose model call is in flight")
                continue
        for agent_id, reason in stops.items():
            flight = flights[agent_id]
            flight.stopped = reason
            if flight.task is not None:
                flight.task.cancel()


def _stops(tokens: dict[int, int]) -> dict[int, str]:
    """Which of these steps (agent id -> fencing token) must stop their model call now, and why: one query."""
    interrupt = Message.objects.filter(agent_id=OuterRef("pk"), state=Message.State.QUEUED, mode=Message.Mode.INTERRUPT)
    rows = {
        pk: (token, status, interrupted)
        for pk, token, status, interrupted in Agent.objects.filter(pk__in=tokens)
        .annotate(interrupted=Exists(interrupt))
        .values_list("pk", "fencing_token", "status", "interrupted")
    }
    stops = {}
    for agent_id, token in tokens.items():
        row = rows.get(agent_id)
        if row is None or row[0] != token or lease.stop_reason(agent_id) == "lost":
            stops[agent_id] = "lost"
        elif row[1] != Agent.Status.RUNNING:
            stops[agent_id] = "stopped"
        elif row[2]:
            stops[agent_id] = "interrupt"
    return stops


def drain(timeout: float) -> bool:
    """Wait until no call is in flight here and every continuation ran (after `lease.begin_shutdown()`, the
    watcher cancels them all and their steps hand the agents back). False when time ran out."""
    with _cond:
        return _cond.wait_for(lambda: _busy == 0, timeout=timeout)
