"""Who holds an agent's step, for how long, and what happens when the holder stops or dies.

- The lease owner is this process's identity (`host:pid:nonce`), so a sweep on the same host can tell a dead
  holder (its pid is gone) from a live one whose step simply lasts long.
- A heartbeat thread renews the lease of every step this process runs (model calls in flight included), every third
  of SWARM_LEASE_SECONDS, with one conditional update for all of them: a step may last longer
  than the lease (a long test run) and nobody takes it over while its holder lives. If the renewal finds a token
  gone, that step lost its lease and must stop. The verifications this process runs (`keep_verifying`) are renewed
  the same way: a slow one is not taken for lost and run a second time beside it.
- `begin_shutdown()` (SIGTERM) asks every running step to hand its work back: commands are killed, model calls
  in flight cancelled, the lease released, so the next process resumes the agent at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from agents import connections

log = logging.getLogger(__name__)


def _host() -> str:
    """This machine as seen by pids: the host name and the pid namespace (containers sharing a host name, each
    with its own pids, must not judge each other's pids)."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return f"{socket.gethostname()}~{namespace}"


HOST = _host()
shutting_down = threading.Event()

_ids: dict[int, str] = {}
_held: dict[int, int] = {}  # agent id -> fencing token of the step this process runs for it
_verifying: set[int] = set()  # agents whose submission this process verifies (judges.services)
_lost: set[int] = set()
_lock = threading.Lock()
_beat_pid = 0


def worker_id() -> str:
    """This process's identity as a lease owner (a forked pool child gets its own)."""
    pid = os.getpid()
    if pid not in _ids:
        _ids[pid] = f"{HOST}:{pid}:{uuid.uuid4().hex[:6]}"
    return _ids[pid]


def owner_is_dead(owner: str) -> bool:
    """True only when the owner certainly died: it ran on this host and its pid is gone (or is not its own)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != HOST or not pid_text.isdigit():
        return False  # another host's process: only its lease's expiry tells
    if owner == worker_id():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return int(pid_text) == os.getpid()  # our pid under another nonce: a previous life of this pid number


def interval() -> float:
    return max(0.2, settings.SWARM_LEASE_SECONDS / 3)


def keep(agent_id: int, token: int) -> None:
    """A step of this agent runs here from now on (its model call may be in flight): renew its lease until
    `let_go`."""
    _ensure_heartbeat()
    with _lock:
        _held[agent_id] = token
        _lost.discard(agent_id)


def let_go(agent_id: int, token: int) -> None:
    with _lock:
        if _held.get(agent_id) == token:
            del _held[agent_id]
            _lost.discard(agent_id)


def keep_verifying(agent_id: int) -> None:
    """This process verifies the agent's submission from now on (it claimed the lease): renew it until
    `done_verifying`."""
    _ensure_heartbeat()
    with _lock:
        _verifying.add(agent_id)


def done_verifying(agent_id: int) -> None:
    with _lock:
        _verifying.discard(agent_id)


def stop_reason(agent_id: int) -> str:
    """Why the step of this agent must stop now: "shutdown", "lost" (another holder took over) or ""."""
    if shutting_down.is_set():
        return "shutdown"
    if agent_id in _lost:
        return "lost"
    return ""


class LeaseLost(Exception):
    """Another holder took this step's lease: the step stops and leaves no trace."""


class HandBack(Exception):
    """The process is stopping (SIGTERM): the step gives its agent back instead of finishing."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def check_stop(agent_id: int) -> None:
    """Raise if this step must stop now: its process is shutting down, or another holder took its lease."""
    reason = stop_reason(agent_id)
    if reason == "shutdown":
        raise HandBack("the worker is shutting down")
    if reason == "lost":
        raise LeaseLost


def renew_all() -> None:
    """One heartbeat: extend the lease of every step this process runs (only while it still holds it), in one
    update whatever their number. A lease is this process's while it names this process as its owner: a claim by
    anyone else (the only thing that changes a fencing token) names its own. When some were not renewed, a second
    query finds the ones lost by their tokens."""
    from agents.models import Agent

    with _lock:
        held, verifying = dict(_held), set(_verifying)
    until = timezone.now() + timedelta(seconds=settings.SWARM_LEASE_SECONDS)
    if verifying:
        Agent.objects.filter(pk__in=verifying, lease_owner=worker_id(), lease_expires_at__isnull=False).update(
            lease_expires_at=until
        )
    if not held:
        return
    renewed = Agent.objects.filter(pk__in=held, lease_owner=worker_id(), lease_expires_at__isnull=False).update(
        lease_expires_at=until
    )
    if renewed == len(held):
        return
    tokens = dict(Agent.objects.filter(pk__in=held).values_list("pk", "fencing_token"))
    for agent_id, token in held.items():
        if tokens.get(agent_id) != token:  # a lease merely freed (the step just ended) is not lost
            with _lock:
                if _held.get(agent_id) == token:
                    _lost.add(agent_id)
            log.warning("agent %s: lease lost to another holder; its step stops", agent_id)


def _beat() -> None:
    pid = os.getpid()
    while _beat_pid == pid:
        shutting_down.wait(interval())
        try:
            renew_all()
        except Exception:
            log.exception("lease heartbeat failed")
        finally:
            connections.done()
        if shutting_down.is_set():
            shutting_down.wait(interval())


def _ensure_heartbeat() -> None:
    global _beat_pid
    with _lock:
        if _beat_pid == os.getpid():
            return
        _beat_pid = os.getpid()  # after a fork the parent's thread is gone: start this process's own
    threading.Thread(target=_beat, name="swarm-lease-heartbeat", daemon=True).start()


def claim(agent_id: int) -> int | None:
    """Take the agent's lease if it is running and nobody holds it; returns the fencing token."""
    from agents.models import Agent

    agent = claim_row(agent_id, Agent.objects.only("fencing_token"))
    return None if agent is None else agent.fencing_token


def claim_row(agent_id: int, rows):
    """`claim`, returning the agent's row read from `rows` (a queryset: what the step needs of it) in the claim's
    transaction, its `fencing_token` the lease's token; None when the lease is not to be had."""
    from django.db import transaction
    from django.db.models import F, Q

    from agents.models import Agent

    if shutting_down.is_set():
        return None  # a stopping process takes no agent: a lease taken now could outlive it (the next start resumes it)
    now = timezone.now()
    with transaction.atomic():
        updated = (
            Agent.objects.filter(pk=agent_id, status=Agent.Status.RUNNING)
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
            .update(
                lease_owner=worker_id(),
                lease_expires_at=now + timedelta(seconds=settings.SWARM_LEASE_SECONDS),
                fencing_token=F("fencing_token") + 1,
            )
        )
        if updated != 1:
            return None
        return rows.get(pk=agent_id)


def held_here() -> dict[int, int]:
    with _lock:
        return dict(_held)


def release_dead() -> list[int]:
    """Free the leases of holders that died on this host (a killed process): their agents resume now, not at
    the lease's expiry. Conditional on the owner, so a lease taken over meanwhile is left alone."""
    from agents.models import Agent

    now = timezone.now()
    freed = []
    rows = Agent.objects.filter(lease_expires_at__gt=now).exclude(lease_owner="").values_list("pk", "lease_owner")
    for pk, owner in rows:
        if owner_is_dead(owner):
            if Agent.objects.filter(pk=pk, lease_owner=owner, lease_expires_at__gt=now).update(lease_expires_at=None):
                freed.append(pk)
    if freed:
        log.info("released %d lease(s) of dead holder(s): %s", len(freed), freed)
    return freed


def begin_shutdown() -> None:
    if not shutting_down.is_set():
        log.info("shutting down: running steps hand their work back")
    shutting_down.set()


def release_mine() -> int:
    """At the very end of a shutdown: free every lease this process still holds (a step that did not hand back
    in time), so the next start resumes those agents at once."""
    from agents.models import Agent

    return Agent.objects.filter(lease_owner=worker_id(), lease_expires_at__isnull=False).update(lease_expires_at=None)


def release_for_pids(pids: set[int]) -> list[int]:
    """Free the leases held by these processes of this host (a worker and its pool children giving up)."""
    from agents.models import Agent

    freed = []
    for pk, owner in (
        Agent.objects.filter(lease_expires_at__isnull=False).exclude(lease_owner="").values_list("pk", "lease_owner")
    ):
        host, _, rest = owner.partition(":")
        pid = rest.partition(":")[0]
        if host == HOST and pid.isdigit() and int(pid) in pids:
            if Agent.objects.filter(pk=pk, lease_owner=owner).update(lease_expires_at=None):
                freed.append(pk)
    return freed
