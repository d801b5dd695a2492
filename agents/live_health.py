"""Live sockets while the Redis that carries their broadcasts is down or restarts (RELIABILITY 3).

The pub/sub channel layer subscribes again by itself once Redis is back, but what was broadcast in between never
arrives, and a socket that stays open does not show that its updates stopped. So each web process asks Redis every
SWARM_REDIS_CHECK_SECONDS who it is: when Redis does not answer, or answers as a new server (a restart: its run_id
changed), every socket this process serves is closed with CLOSE_CODE. The page shows "live updates paused" and
reconnects with the last seq it saw; the consumer replays from the event log what the socket missed.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from django.conf import settings

log = logging.getLogger(__name__)

CLOSE_CODE = 4503  # not one of the fatal codes (4403, 4404): the page reconnects
_sockets: weakref.WeakSet = weakref.WeakSet()
_monitors: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def attach(consumer) -> None:
    """Watch Redis for this socket (nothing to watch with the in-memory channel layer)."""
    if not settings.REDIS_URL:
        return
    _sockets.add(consumer)
    loop = asyncio.get_running_loop()
    if loop not in _monitors or _monitors[loop].done():
        _monitors[loop] = loop.create_task(_monitor(), name="swarm-live-health")


def detach(consumer) -> None:
    _sockets.discard(consumer)


async def server_id(client) -> str | None:
    """Redis's run_id (new at every start), or None when it does not answer in time."""
    timeout = max(1.0, settings.SWARM_REDIS_CHECK_SECONDS)
    try:
        info = await asyncio.wait_for(client.info("server"), timeout)
    except Exception:  # unreachable, timed out, refused: all mean the broadcasts stopped
        return None
    return str(info.get("run_id", ""))


async def _monitor() -> None:
    import redis.asyncio as aioredis

    timeout = max(1.0, settings.SWARM_REDIS_CHECK_SECONDS)
    client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout)
    known = await server_id(client)
    try:
        while _sockets:
            await asyncio.sleep(settings.SWARM_REDIS_CHECK_SECONDS)
            current = await server_id(client)
            if current is None or (known is not None and current != known):
                await _close_all("unreachable" if current is None else "restarted")
            known = current
    finally:
        await client.aclose()


async def _close_all(why: str) -> None:
    sockets = list(_sockets)
    if sockets:
        log.warning("Redis %s: closing %d live socket(s); the pages reconnect and replay", why, len(sockets))
    for consumer in sockets:
        _sockets.discard(consumer)
        try:
            await consumer.close(code=CLOSE_CODE)
        except Exception:  # already gone
            pass
