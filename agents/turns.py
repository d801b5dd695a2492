"""The CPU-bound parts of steps in this process, a few at a time in order of arrival (SWARM_STEP_TURNS, default 1):
a step's part up to its model call (agents/runtime.py) and what runs around the calls in flight (the continuations
of agents/inflight.py).

Threads that share the GIL share the CPU: answers that arrive together are worked on together and all finish after
the whole burst's time, so their next calls leave together and the burst comes back every cycle, each of its agents
waiting as long as the last. Taken in turn, the first is done after one step's time, the second after two: the burst
is spread out within one cycle and stays spread, so an answer rarely waits for others. A thread waiting for its turn
holds nothing else (it takes its turn before any transaction); code that waits long on another process or thread
gives its turn up meanwhile (`released`) and comes back ahead of the line. 0 turns: no ordering (every thread runs at
once).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

_lock = threading.Lock()
_waiting: deque[threading.Event] = deque()
_free: int | None = None  # turns nobody holds (None until the first is asked for: the setting is read then)
_local = threading.local()  # .depth: nested turns of this thread; .held: whether its outermost one took a turn


def reset() -> None:
    """Forget every turn (a forked child holds none of its parent's; tests change SWARM_STEP_TURNS)."""
    global _lock, _free
    _lock, _free = threading.Lock(), None
    _local.__dict__.update(depth=0, held=False)
    _waiting.clear()


os.register_at_fork(after_in_child=reset)


def _take(first: bool = False) -> None:
    """Wait for a turn: behind every thread already waiting, or (`first`: one coming back from a wait it was given
    up for) ahead of them."""
    global _free
    with _lock:
        if _free is None:
            _free = settings.SWARM_STEP_TURNS
        if _free > 0 and not _waiting:
            _free -= 1
            return
        ready = threading.Event()
        if first:
            _waiting.appendleft(ready)
        else:
            _waiting.append(ready)
    try:
        ready.wait()  # the thread giving its turn up hands it to the first in line
    except BaseException:  # (a test's timeout, ^C): never leave a turn to a thread that no longer waits for it
        with _lock:
            if ready in _waiting:
                _waiting.remove(ready)
                ready = None
        if ready is not None:  # it was handed the turn meanwhile: pass it on
            _give()
        raise


def _give() -> None:
    global _free
    with _lock:
        if _waiting:
            _waiting.popleft().set()
        else:
            _free = (_free or 0) + 1


@contextmanager
def turn():
    """Run the block in this thread's turn (at once when it already holds one: turns nest)."""
    depth = getattr(_local, "depth", 0)
    take = depth == 0 and settings.SWARM_STEP_TURNS > 0
    if take:
        _take()
        _local.held = True
    _local.depth = depth + 1
    try:
        yield
    finally:
        _local.depth = depth
        if take:
            _local.held = False
            _give()


@contextmanager
def released():
    """Give this thread's turn up for the block (a long wait on a subprocess or on another thread), then queue for it
    again. Nothing when it holds none."""
    depth, held = getattr(_local, "depth", 0), getattr(_local, "held", False)
    if not held or connection.in_atomic_block:
        # in a transaction (SQLite's write lock may be held), taking the turn back could wait for a thread that
        # waits for that lock: keep the turn
        yield
        return
    _local.depth, _local.held = 0, False
    _give()
    try:
        yield
    finally:
        _take(first=True)
        _local.depth, _local.held = depth, True
