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


class Turns:
    """`slots` turns at once (None: SWARM_STEP_TURNS, read at the first turn asked for)."""

    def __init__(self, slots: int | None = None):
        self.slots = slots
        self._lock = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._free: int | None = slots  # turns nobody holds
        self._local = threading.local()  # .depth: nested turns of this thread; .held: its outermost one took a turn

    def _count(self) -> int:
        return settings.SWARM_STEP_TURNS if self.slots is None else self.slots

    def _take(self, first: bool = False) -> None:
        """Wait for a turn: behind every thread already waiting, or (`first`: one coming back from a wait it was
        given up for) ahead of them."""
        with self._lock:
            if self._free is None:
                self._free = self._count()
            if self._free > 0 and not self._waiting:
                self._free -= 1
                return
            ready = threading.Event()
            if first:
                self._waiting.appendleft(ready)
            else:
                self._waiting.append(ready)
        try:
            ready.wait()  # the thread giving its turn up hands it to the first in line
        except BaseException:  # (a test's timeout, ^C): never leave a turn to a thread that no longer waits for it
            with self._lock:
                if ready in self._waiting:
                    self._waiting.remove(ready)
                    ready = None
            if ready is not None:  # it was handed the turn meanwhile: pass it on
                self._give()
            raise

    def _give(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._free = (self._free or 0) + 1

    @contextmanager
    def turn(self):
        """Run the block in this thread's turn (at once when it already holds one: turns nest)."""
        local = self._local
        depth = getattr(local, "depth", 0)
        take = depth == 0 and self._count() > 0
        if take:
            self._take()
            local.held = True
        local.depth = depth + 1
        try:
            yield
        finally:
            local.depth = depth
            if take:
                local.held = False
                self._give()

    @contextmanager
    def released(self):
        """Give this thread's turn up for the block (a long wait on a subprocess or on another thread), then take it
        again ahead of the line. Nothing when it holds none, or inside a transaction: SQLite's write lock may be
        held, and taking the turn back could wait for a thread that waits for that lock."""
        local = self._local
        depth, held = getattr(local, "depth", 0), getattr(local, "held", False)
        if not held or connection.in_atomic_block:
            yield
            return
        local.depth, local.held = 0, False
        self._give()
        try:
            yield
        finally:
            self._take(first=True)
            local.depth, local.held = depth, True


_process = Turns()  # this process's turns (a forked child starts with none held)


def _after_fork() -> None:
    global _process
    _process = Turns()


os.register_at_fork(after_in_child=_after_fork)


def turn():
    """This process's turn for the block (see the module's docstring)."""
    return _process.turn()


def released():
    """This process's turn given up for the block."""
    return _process.released()
