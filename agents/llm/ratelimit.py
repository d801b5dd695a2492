"""Provider rate limits shared by every process: a model profile may set `requests_per_minute`; each call first
reserves the next free slot of its profile's schedule and waits until it comes, so all workers together keep to
the provider's limit instead of each learning it from 429s.

The schedule is GCRA (one timestamp per profile: when the next slot is free) kept in Redis with Redis's own clock,
so processes on machines whose clocks differ agree; without REDIS_URL, or while Redis is unreachable, it lives in
this process's memory (the embedded mode has one process). Calls are spaced evenly, 60 / rpm seconds apart, with
`SWARM_RATE_BURST` calls allowed back to back. A reservation is never refused: the caller waits (an awaited sleep
in the async path, holding nothing) and the runtime shows the wait on the agent's card.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from redis.exceptions import RedisError

from swarm_web import redis_clients

log = logging.getLogger(__name__)

REDIS_TIMEOUT = 0.5

# KEYS[1]: the profile's key; ARGV: interval (s), burst. Returns the wait in microseconds.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = (tonumber(ARGV[2]) - 1) * interval
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil((tat + interval - now) / 1000) + 1000)
return wait
"""

_memory: dict[int, float] = {}  # profile id -> when its next slot is free (monotonic seconds)
_lock = threading.Lock()


def _interval(profile) -> float | None:
    rpm = getattr(profile, "requests_per_minute", None)
    return 60.0 / rpm if rpm else None


def _key(profile) -> str:
    return f"{settings.SWARM_CAPS_PREFIX}rate:{profile.pk}"


def _burst() -> int:
    return max(1, settings.SWARM_RATE_BURST)


def _in_memory(profile, interval: float) -> float:
    now = time.monotonic()
    with _lock:
        tat = max(_memory.get(profile.pk, now), now)
        _memory[profile.pk] = tat + interval
    return max(0.0, tat - (_burst() - 1) * interval - now)


def _from_redis(result) -> float:
    return int(result) / 1_000_000


def _limit(profile, connect) -> tuple[float | None, object]:
    """The profile's interval between calls (None: no limit) and, when it has one, the Redis client (`connect`:
    the sync or the async one; None without Redis)."""
    interval = _interval(profile)
    return interval, (connect(REDIS_TIMEOUT) if interval is not None else None)


def _script(profile, interval: float) -> tuple:
    """The Redis call's arguments that take the profile's next slot."""
    return (_RESERVE, 1, _key(profile), int(interval * 1_000_000), _burst())


def _local(profile, interval: float | None, exc: Exception | None = None) -> float:
    """The wait without Redis: none without a limit, else this process's own slot (Redis absent or unreachable)."""
    if interval is None:
        return 0.0
    if exc is not None:
        log.warning("rate limit of profile %s kept in memory, Redis unreachable: %s", profile.name, exc)
    return _in_memory(profile, interval)


def reserve(profile) -> float:
    """Take the profile's next slot; returns how many seconds to wait before calling (0 without a limit)."""
    interval, client = _limit(profile, redis_clients.sync_client)
    if client is None:
        return _local(profile, interval)
    try:
        return _from_redis(client.eval(*_script(profile, interval)))
    except (RedisError, OSError) as exc:
        return _local(profile, interval, exc)


async def areserve(profile) -> float:
    """`reserve` for code on an event loop."""
    interval, client = _limit(profile, redis_clients.async_client)
    if client is None:
        return _local(profile, interval)
    try:
        return _from_redis(await client.eval(*_script(profile, interval)))
    except (RedisError, OSError) as exc:
        return _local(profile, interval, exc)


def reason(profile) -> str:
    """What the agent's card says while it waits."""
    return f"rate limit of {profile.name}: {profile.requests_per_minute} calls a minute shared by every agent"
