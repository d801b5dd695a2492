"""How this process hands broadcasts to the channel layer: in order, from any thread, through one long-lived event
loop; and the task overview's coalescer. Nothing here knows what is sent (agents/events.py renders it).

Sends. `async_to_sync(group_send)` from a step's thread costs ~2.4 ms of CPU and a new Redis connection per call
(PERFORMANCE.md); awaited in a long-lived loop it costs 0.1-0.4 ms. So every send is handed to one loop: the one
serving this process's sockets (daphne's, remembered at start-up as `main_loop`), or else a loop of this process's own
on a daemon thread (a Celery worker). On that loop one task sends the queued messages one after another, so a group
gets them in the order they were handed over. The in-memory layer only reaches sockets of this process, which live on
`main_loop`: without it running, nobody can be listening and the message is dropped.

Watchers. `watched(group)` tells whether any socket is in a group now: the in-memory layer's groups, or with Redis
`PUBSUB NUMSUB` of the group's channel (the pub/sub layer subscribes each web process to a group while it has a socket
in it, so a worker knows about every web process's sockets). What nobody watches is neither streamed nor rendered
(agents/watching.py, agents/events.py): a socket that joins waits until the layer counts it (`until_watched`), then
reads the state and the log, so it misses nothing. When it cannot be told (Redis unreachable, another layer), the answer is yes.

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
from swarm_web import redis_clients

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


UNKNOWN_FOR = 5.0  # seconds every group counts as watched after Redis could not be asked
_unknown_until: dict[str, float] = {}  # Redis URL -> until when it is not asked


def watched(group: str) -> bool:
    """Whether any socket, in any process, is in this group now (see the module's docstring); True when unknown."""
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        return bool(layer.groups.get(group))  # read from another thread: a dict lookup, its worst is a stale answer
    prefix, client = _layer_prefix(), _askable_redis()
    if prefix is None or client is None:
        return True
    try:
        [(_, subscribers)] = client.pubsub_numsub(f"{prefix}__group__{group}")
    except Exception as exc:
        _not_answering()
        log.info("could not tell whether %s is watched (%s): taken as watched for %s s", group, exc, UNKNOWN_FOR)
        return True
    return subscribers > 0


def _layer_prefix() -> str | None:
    """The Redis pub/sub layer's prefix; None for another layer (or without REDIS_URL)."""
    config = settings.CHANNEL_LAYERS["default"]
    if config["BACKEND"] != "channels_redis.pubsub.RedisPubSubChannelLayer" or not settings.REDIS_URL:
        return None
    return config.get("CONFIG", {}).get("prefix", "asgi")


def _askable_redis():
    """This process's Redis client, unless Redis did not answer a moment ago (see `_not_answering`)."""
    if time.monotonic() < _unknown_until.get(settings.REDIS_URL, 0.0):
        return None
    return redis_clients.sync_client(timeout=1.0)


def _not_answering() -> None:
    # not asked again for a while: every commit asks, and an unreachable Redis may take its timeout each time
    _unknown_until[settings.REDIS_URL] = time.monotonic() + UNKNOWN_FOR


async def until_watched(group: str, timeout: float = 2.0) -> bool:
    """After a socket joined `group`: until the layer counts it (Redis takes a pub/sub SUBSCRIBE after the join has
    returned, and a worker asking meanwhile would not broadcast to it); False if that did not happen in time. Only
    the question holds a thread, not the waits between."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(watched, group):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


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
    own database connection (agents/connections.py).

    Across processes (the Redis pub/sub layer: a web process and every worker's pool children mark cards): the changed
    cards are a Redis set per task, and one process at a time sends the task's frame. A process that marked a card
    takes a lock for the task that lasts one interval; whoever gets it takes the whole set and
    sends it as one frame. One that does not tries again when the lock lapses, until it gets it or finds the set empty
    (another took its cards after they were marked, so that frame was rendered after the change). A watcher of a task
    so gets at most one frame an interval from the whole fleet, not one from each process. Without Redis (or while it
    does not answer) the cards are this process's own, as in the embedded mode; a card marked in Redis that could not
    be taken back from it is sent by the process that marked it."""

    SHARED_TTL = 60  # seconds a task's set of changed cards outlives its last mark (a sender that died)

    def __init__(self, flush: Callable[[int, set[int]], None]) -> None:
        self._flush = flush
        self._cond = threading.Condition()
        self._dirty: dict[int, set[int]] = {}  # task -> cards marked here only (every task waiting for a frame)
        self._shared: dict[int, set[int]] = {}  # task -> cards this process marked in the task's Redis set
        self._sent: dict[int, float] = {}  # task -> when its next frame may go, less one interval (monotonic)
        self._pid: int | None = None
        _coalescers.append(self)

    def mark(self, task_id: int, agent_id: int) -> None:
        shared = _shared_mark(task_id, agent_id)
        with self._cond:
            if self._pid != os.getpid():  # first mark in this process (or in a forked child)
                self._pid = os.getpid()
                self._dirty, self._shared, self._sent = {}, {}, {}
                threading.Thread(target=self._run, name="swarm-overview", daemon=True).start()
            local = self._dirty.setdefault(task_id, set())
            if shared:
                self._shared.setdefault(task_id, set()).add(agent_id)
            else:
                local.add(agent_id)
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

    def _take(self, task_id: int, local: set[int], force: bool = False) -> set[int] | float:
        """The cards of this task's next frame: this process's own, with the shared set's when it marked there; or
        the seconds until another process's turn to send this task's frame lapses (then try again)."""
        with self._cond:
            # forgotten before the set is taken: a card marked here meanwhile marks the task again
            mine = self._shared.pop(task_id, None)
        if mine is None:
            return local
        try:
            taken = _shared_take(task_id, force)
        except Exception as exc:  # Redis went away: this process sends what it marked there itself
            _not_answering()
            log.info("overview cards of task %s not taken from Redis (%s): sent from here", task_id, exc)
            return local | mine
        if isinstance(taken, float):
            with self._cond:
                self._shared.setdefault(task_id, set()).update(mine)
        return taken if isinstance(taken, float) else local | taken

    def flush_pending(self) -> None:
        """Send every pending frame now, on the caller's thread (a process about to exit)."""
        with self._cond:
            if self._pid != os.getpid():
                return  # nothing was marked in this process (a forked child has its parent's copy)
            batch, self._dirty = self._dirty, {}
        for task_id, agent_ids in batch.items():
            agent_ids = self._take(task_id, agent_ids, force=True)
            if agent_ids and not isinstance(agent_ids, float):
                self._flush(task_id, agent_ids)

    def drop_pending(self) -> None:
        """Forget every card waiting for a frame, here and in the shared sets of the tasks marked here (a test's end:
        its database is gone)."""
        with self._cond:
            tasks, self._dirty, self._shared = set(self._shared), {}, {}
        client = redis_clients.sync_client(timeout=1.0)
        for task_id in tasks:
            keys = _shared_keys(task_id)
            if keys is not None and client is not None:
                try:
                    client.delete(*keys)
                except Exception:  # Redis went away: the sets lapse on their own (SHARED_TTL)
                    return

    def _run(self) -> None:
        while True:
            batch = self._due()
            for task_id, local in batch.items():
                with self._cond:
                    self._sent[task_id] = time.monotonic()
                try:
                    agent_ids = self._take(task_id, local)
                    if isinstance(agent_ids, float):  # another process's turn: ours again when it lapses
                        with self._cond:
                            self._dirty.setdefault(task_id, set()).update(local)
                            self._sent[task_id] = time.monotonic() + agent_ids - settings.SWARM_OVERVIEW_INTERVAL
                        continue
                    if agent_ids:
                        self._flush(task_id, agent_ids)
                except Exception:  # a page that reconnects gets every card; the next change sends them again
                    log.exception("overview frame of task %s failed", task_id)
            try:
                connections.done()
            except Exception:
                log.exception("closing the overview's database connection failed")


def _shared_keys(task_id: int) -> tuple[str, str] | None:
    """The Redis keys of a task's changed cards and of its sender's lock; None unless the layer is Redis pub/sub."""
    prefix = _layer_prefix()
    if prefix is None:
        return None
    return f"{prefix}:overview:{task_id}:cards", f"{prefix}:overview:{task_id}:sender"


def _shared_mark(task_id: int, agent_id: int) -> bool:
    """Adds the card to the task's shared set; False when there is none (another layer, Redis not answering)."""
    keys, client = _shared_keys(task_id), _askable_redis()
    if keys is None or client is None:
        return False
    try:
        client.pipeline(transaction=False).sadd(keys[0], agent_id).expire(keys[0], Coalescer.SHARED_TTL).execute()
    except Exception as exc:
        _not_answering()
        log.info("overview card of task %s kept in this process (%s)", task_id, exc)
        return False
    return True


def _shared_take(task_id: int, force: bool) -> set[int] | float:
    """This interval's sender takes the task's whole set (empty when another sender took the cards after they were
    marked: nothing to send); or, while another process holds the interval and cards wait, the seconds until its
    turn lapses. Raises when Redis does not answer."""
    cards, sender = _shared_keys(task_id) or ("", "")
    client = redis_clients.sync_client(timeout=1.0)
    if not cards or client is None:
        return set()
    turn_ms = max(1, int(settings.SWARM_OVERVIEW_INTERVAL * 1000))
    if not force and not client.set(sender, os.getpid(), nx=True, px=turn_ms):
        waiting, left_ms = client.pipeline(transaction=False).scard(cards).pttl(sender).execute()
        return max(0.005, left_ms / 1000) if waiting else set()
    members, _ = client.pipeline(transaction=True).smembers(cards).delete(cards).execute()
    return {int(member) for member in members}
