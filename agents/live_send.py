"""How this process hands broadcasts to the channel layer: in order, from any thread, through one long-lived event
loop; and the task overview's coalescer. Nothing here knows what is sent (agents/events.py renders it).

Sends. `async_to_sync(group_send)` from a step's thread costs ~2.4 ms of CPU and a new Redis connection per call
(PERFORMANCE.md); awaited in a long-lived loop it costs 0.1-0.4 ms. So every send is handed to one loop: the one
serving this process's sockets (daphne's, remembered at start-up as `main_loop`), or else a loop of this process's own
on a daemon thread (a Celery worker). On that loop one task sends the queued messages one after another, so a group
gets them in the order they were handed over. The in-memory layer only reaches sockets of this process, which live on
`main_loop`: without it running, nobody can be listening and the message is dropped.

Overview. A watcher of a task needs every card as it is now, not every change: `Coalescer.mark(task, agent)` notes
that a card changed; a thread of this process sends each task's changed cards as one frame, at once when the task was
quiet, then at most once every `SWARM_OVERVIEW_INTERVAL` seconds. A frame is rendered after the changes it follows
were committed, so the last frame after a burst shows every card's latest state.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from agents import connections

log = logging.getLogger(__name__)

# The event loop serving this process's sockets, remembered at start-up (swarm_web/embedded.py), or by the first socket
# when nothing else named one (`serve_sockets_here`).
main_loop: asyncio.AbstractEventLoop | None = None

_lock = threading.Lock()
_own: tuple[int, asyncio.AbstractEventLoop] | None = None  # (pid, loop): a forked child makes its own
_outboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Outbox] = weakref.WeakKeyDictionary()
_coalescers: list[Coalescer] = []


class _Outbox:
    """The messages waiting on one loop; one task at a time sends them, in order, and ends when none are left."""

    def __init__(self) -> None:
        self.queue: deque[tuple[object, str, dict]] = deque()
        self.sending = False

    def put(self, layer, group: str, message: dict) -> None:  # on the loop
        self.queue.append((layer, group, message))
        if not self.sending:
            self.sending = True
            asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self.queue:
                layer, group, message = self.queue.popleft()
                try:
                    await layer.group_send(group, message)
                except Exception:  # the DB log is the truth; a lost broadcast is recovered by replay on reconnect
                    log.exception("broadcast to %s failed", group)
        finally:
            self.sending = False


def _put(loop: asyncio.AbstractEventLoop, layer, group: str, message: dict) -> None:
    outbox = _outboxes.get(loop)
    if outbox is None:
        outbox = _outboxes[loop] = _Outbox()
    outbox.put(layer, group, message)


def _own_loop() -> asyncio.AbstractEventLoop:
    global _own
    with _lock:
        if _own is None or _own[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="swarm-broadcasts", daemon=True).start()
            if _own is None:
                atexit.register(_at_exit)
            _own = (os.getpid(), loop)
        return _own[1]


def send(group: str, message: dict) -> None:
    """Hand one message for a group to this process's broadcast loop; returns at once."""
    layer = get_channel_layer()
    if layer is None:
        return
    loop = main_loop
    if loop is None or not loop.is_running():
        if isinstance(layer, InMemoryChannelLayer):
            return  # its sockets could only be on main_loop
        loop = _own_loop()
    try:
        loop.call_soon_threadsafe(_put, loop, layer, group, message)
    except RuntimeError:  # the loop closed meanwhile (the server is stopping)
        log.info("broadcast to %s dropped: its loop is closed", group)


def wait_sent(timeout: float = 30) -> None:
    """Until every message handed over so far has gone out (a benchmark's emitter before it exits)."""
    loop = main_loop if main_loop is not None and main_loop.is_running() else (_own[1] if _own else None)
    if loop is not None:
        asyncio.run_coroutine_threadsafe(_sent(loop), loop).result(timeout)


async def _sent(loop: asyncio.AbstractEventLoop) -> None:
    outbox = _outboxes.get(loop)
    while outbox is not None and outbox.sending:
        await asyncio.sleep(0.01)


def _at_exit() -> None:
    """A process that sent through a loop of its own (a command, a worker) leaves once what it handed over went out:
    the overview's pending cards too."""
    if _own is None or _own[0] != os.getpid():
        return
    try:
        for coalescer in _coalescers:
            coalescer.flush_pending()
        wait_sent(timeout=5)
    except Exception:
        log.exception("broadcasts still pending at exit were dropped")


def serve_sockets_here() -> None:
    """Called by a socket's consumer on the loop it runs on: that loop serves this process's sockets, unless one was
    named at start-up and still runs (a server that neither runs a reactor nor speaks lifespan; the tests)."""
    global main_loop
    if main_loop is None or not main_loop.is_running():
        main_loop = asyncio.get_running_loop()


class Coalescer:
    """Which cards of which task changed since its last frame, and the thread that sends the frames.

    `flush(task_id, agent_ids)` renders and sends one task's frame; it runs on the coalescer's thread, which keeps its
    own database connection (agents/connections.py)."""

    def __init__(self, flush: Callable[[int, set[int]], None]) -> None:
        self._flush = flush
        self._cond = threading.Condition()
        self._dirty: dict[int, set[int]] = {}
        self._sent: dict[int, float] = {}  # task -> when its last frame was rendered (monotonic)
        self._pid: int | None = None
        _coalescers.append(self)

    def mark(self, task_id: int, agent_id: int) -> None:
        with self._cond:
            self._dirty.setdefault(task_id, set()).add(agent_id)
            if self._pid != os.getpid():  # first mark in this process (or in a forked child)
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="swarm-overview", daemon=True).start()
            self._cond.notify()

    def _due(self) -> dict[int, set[int]]:
        """Wait until some task with changes may have its next frame; take those tasks' changes."""
        with self._cond:
            while True:
                if not self._dirty:
                    self._cond.wait()
                    continue
                interval = settings.SWARM_OVERVIEW_INTERVAL
                now = time.monotonic()
                for task_id in [t for t, at in self._sent.items() if now - at >= interval and t not in self._dirty]:
                    del self._sent[task_id]  # quiet for a whole interval: its next change goes out at once
                ready = [t for t in self._dirty if now - self._sent.get(t, -interval) >= interval]
                if ready:
                    return {t: self._dirty.pop(t) for t in ready}
                self._cond.wait(min(self._sent[t] for t in self._dirty) + interval - now)

    def flush_pending(self) -> None:
        """Send every pending frame now, on the caller's thread (a process about to exit)."""
        with self._cond:
            batch, self._dirty = self._dirty, {}
        for task_id, agent_ids in batch.items():
            self._flush(task_id, agent_ids)

    def _run(self) -> None:
        while True:
            batch = self._due()
            for task_id, agent_ids in batch.items():
                with self._cond:
                    self._sent[task_id] = time.monotonic()
                try:
                    self._flush(task_id, agent_ids)
                except Exception:  # a page that reconnects gets every card; the next change sends them again
                    log.exception("overview frame of task %s failed", task_id)
            try:
                connections.done()
            except Exception:
                log.exception("closing the overview's database connection failed")
