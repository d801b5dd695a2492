"""Conversation benchmark: a step's database time at turn 10 and at turn 500 of one agent.

One simulated agent (`sim/looper`: one model turn and one tool call a step) is given a history of 9 turns, then
499 (each turn an assistant message with a tool call and a 1,000-character tool output, too short to be
compacted), and runs STEPS steps at each point. Every statement of a step, in every thread it runs in, is timed by
Django's debug cursor; the figures are medians over the steps. `bytes sent` is the size of the
statements' parameters: what a step writes. `card load` is the read behind an agent's card and its broadcasts. `wall ms` is the whole call (a step's includes
its tool call; a load's includes decoding the row).
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

from agents import demo, services
from agents.models import Agent
from tests import factories
from tests.unit import builders

STEPS = 7
CARD_LOADS = 20
OUTPUT = ("drwxr-xr-x  mathutil.py  tests/  README.md  " * 25)[:1000]


def _turn(index: int) -> list[dict]:
    call_id = f"bench-{index}"
    call = {"id": call_id, "type": "function", "function": {"name": "list_files", "arguments": '{"path": "."}'}}
    return [
        {"role": "assistant", "content": "Let me see what is in the repository.", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": OUTPUT},
    ]


def _history(turns: int) -> list[dict]:
    return [{"role": "user", "content": "Fix mean()."}] + [m for i in range(turns) for m in _turn(i)]


class _Recorder(logging.Handler):
    """The time and the parameter bytes of every statement a step runs, by its first word, in whichever thread it
    runs (the part up to the model call in the caller's, the rest in a continuation thread): Django's debug cursor
    logs each with its duration. The process's other threads (lease heartbeat, in-flight watcher, overview) are not
    the step's."""

    OTHERS = ("swarm-lease-heartbeat", "swarm-hook", "swarm-overview")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seconds = 0.0
        self.kinds: Counter[str] = Counter()
        self.sent = 0
        self.wall = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        sql = getattr(record, "sql", None)
        if sql is None or threading.current_thread().name.startswith(self.OTHERS):
            return
        self.seconds += getattr(record, "duration", 0.0) or 0.0
        self.kinds[sql.split(None, 1)[0].upper()] += 1
        params = getattr(record, "params", None)
        rows = params if params and isinstance(params[0], list | tuple) else [params]
        # psycopg wraps JSON in an adapter that keeps the value as `obj`
        self.sent += sum(len(str(getattr(p, "obj", p))) for row in rows or () for p in (row or ()))

    @contextmanager
    def recording(self):
        logger = logging.getLogger("django.db.backends")
        level, propagate, debug = logger.level, logger.propagate, settings.DEBUG
        settings.DEBUG = True  # (every thread's cursors log their statements)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False  # here only, not on the console
        logger.addHandler(self)
        try:
            yield
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)
            logger.propagate = propagate
            settings.DEBUG = debug


def _measure(agent_id: int) -> _Recorder:
    # a fresh budget and no loop memory each step: the benchmark measures the write, not the guards
    Agent.objects.filter(pk=agent_id).update(tokens_in=0, tokens_out=0, elapsed_seconds=0, recent_calls=[])
    recorder = _Recorder()
    started = time.perf_counter()
    with recorder.recording():
        delay = factories.run_step(agent_id)
    recorder.wall = time.perf_counter() - started
    assert delay is not None, "the step ended the run"
    return recorder


def _card_load(agent_id: int) -> _Recorder:
    """The read behind a card or a broadcast (events.broadcast_state)."""
    recorder = _Recorder()
    started = time.perf_counter()
    with recorder.recording():
        Agent.objects.select_related("task", "profile").get(pk=agent_id)
    recorder.wall = time.perf_counter() - started
    return recorder


def _report(label: str, turn: int, recorders: list[_Recorder]) -> None:
    kinds = Counter()
    for r in recorders:
        kinds.update(r.kinds)
    per_step = ", ".join(f"{k} {v / len(recorders):g}" for k, v in sorted(kinds.items()))
    millis = statistics.median(r.seconds for r in recorders) * 1000
    wall = statistics.median(r.wall for r in recorders) * 1000
    sent = statistics.median(r.sent for r in recorders)
    print(
        f"{label:<10} {turn:>5} {sum(kinds.values()) / len(recorders):>11g} {millis:>9.2f} {wall:>9.2f} {sent:>12,.0f}"
        f"  {per_step}"
    )


def run() -> None:
    print(f"conversation benchmark: one sim/looper agent, median of {STEPS} steps, {connection.vendor}")
    header = (
        f"{'':<10} {'turn':>5} {'statements':>11} {'db ms':>9} {'wall ms':>9} {'bytes sent':>12}  statements by kind"
    )
    print(header)
    print("-" * len(header))
    # a team of its own each run: a PostgreSQL database outlives the run's data dir (and the demo repository in it)
    _team, template = demo.seed(f"Bench team conversation {uuid.uuid4().hex[:8]}")
    task = demo.task_like(template, [("Conv", "sim-looper")], title="bench conversation")
    [agent] = services.launch_task(task)
    for turns in (9, 499):
        builders.conversation(agent.pk, _history(turns))
        recorders = [_measure(agent.pk) for _ in range(STEPS)]
        _report("step", turns + 1, recorders)
        _report("card load", turns + STEPS, [_card_load(agent.pk) for _ in range(CARD_LOADS)])
