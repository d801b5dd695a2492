"""Steps queued in Redis that Redis lost: noticed within seconds, and every agent concerned re-enqueued.

Redis is not durable (RELIABILITY 3): a restart without persistence or a FLUSHALL empties the queue, and a worker
that loses its connection drops the steps it held with a countdown (Celery cannot acknowledge them any more). The
database still says which agents run, so nothing is lost for good, but without this their next step would wait
for the sweep's overdue window. Three signs of a loss, each answered by a sweep that resumes every running agent
nobody holds (`scheduling.sweep.resume_orphans(startup=True)`; a second kick of an agent is harmless, the newest wins):

- a key Swarm keeps in Redis is gone (the data went: a restart without persistence, a FLUSHALL);
- Redis was unreachable, or this worker's consumer connected again after losing its connection (it dropped the
  steps it held with a countdown);
- a step could not be queued (Redis down): the agent is marked as having no step scheduled, so the next sweep of
  any process resumes it, and for a few seconds this process does not wait on Redis again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

MARKER = "swarm:broker-marker"  # present while Redis still holds what Swarm queued in it

_reconnected = threading.Event()
_down_until = 0.0  # monotonic time until which this process does not try to queue a step
_watching = False
_lock = threading.Lock()


def publish(task, agent_id: int, token: int, delay: float, queue: str | None = None) -> bool:
    """Queue the agent's step task (on `queue`, else its route's); if Redis is unreachable, say so in the database
    instead of failing the caller (a page, a step, a sweep): the agent has no step scheduled, and a sweep resumes it
    once Redis is back."""
    global _down_until
    if time.monotonic() >= _down_until:
        try:
            task.apply_async((agent_id, token), countdown=delay, **({"queue": queue} if queue else {}))
            return True
        except (OperationalError, RedisError, OSError) as exc:  # the broker is unreachable
            _down_until = time.monotonic() + settings.SWARM_REDIS_CHECK_SECONDS
            log.warning("could not queue a step (Redis unreachable: %s); a sweep resumes the agent later", exc)
    _unscheduled(agent_id, token)
    return False


def publish_job(task, name: str, args: tuple, queue: str, delay: float = 0.0) -> bool:
    """Queue a job on its queue; if Redis is unreachable, log it and return False (its owner recovers the work at a
    sweep)."""
    global _down_until
    if time.monotonic() >= _down_until:
        try:
            task.apply_async((name, *args), queue=queue, countdown=delay or None)
            return True
        except (OperationalError, RedisError, OSError) as exc:
            _down_until = time.monotonic() + settings.SWARM_REDIS_CHECK_SECONDS
            log.warning("could not queue job %s (Redis unreachable: %s); a sweep runs it later", name, exc)
    return False


def _unscheduled(agent_id: int, token: int) -> None:
    from agents.models import Agent

    # only if no later kick scheduled it meanwhile
    Agent.objects.filter(pk=agent_id, schedule_token=token).update(next_step_at=None)


def consumer_reconnected() -> None:
    """The worker's consumer connected again after a loss: the steps it held are gone."""
    _reconnected.set()


def _client():
    import redis

    timeout = max(1.0, settings.SWARM_REDIS_CHECK_SECONDS)
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout)


def lost_since_last_check(client) -> bool:
    """True when Redis may have lost steps since the last call. Raises a RedisError while Redis is unreachable."""
    planted = client.set(MARKER, "1", nx=True)  # only the first process to see it gone plants it again
    return bool(planted) | _take_reconnected()


def _take_reconnected() -> bool:
    was = _reconnected.is_set()
    _reconnected.clear()
    return was


def watch(on_loss: Callable[[], object]) -> None:
    """Check every SWARM_REDIS_CHECK_SECONDS, in a daemon thread of this process; call on_loss() after a loss."""
    global _watching
    if not settings.REDIS_URL:
        return
    with _lock:
        if _watching:
            return
        _watching = True

    def loop() -> None:
        from agents import lease

        client = _client()
        unreachable, first = False, True
        while not lease.shutting_down.is_set():
            try:
                # back after an outage: steps queued meanwhile failed, and with them perhaps the data
                lost = (lost_since_last_check(client) or unreachable) and not first  # start-up: the sweep's job
                unreachable, first = False, False
            except Exception as exc:
                if not unreachable:
                    log.warning("Redis unreachable (%s): running agents resume once it is back", exc)
                unreachable, lost = True, False
            if lost:
                log.warning("Redis lost queued steps (restart, flush or reconnect): resuming running agents")
                try:
                    on_loss()
                except Exception:
                    log.exception("resuming after the loss failed; trying again at the next check")
                    _reconnected.set()
            close_old_connections()
            lease.shutting_down.wait(settings.SWARM_REDIS_CHECK_SECONDS)

    threading.Thread(target=loop, name="swarm-broker-watch", daemon=True).start()
