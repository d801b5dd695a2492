"""Redis clients shared by the modules that keep counts in Redis (caps, provider rate limits): one sync client per
(URL, timeout) for the process, one async client per event loop (redis.asyncio connections belong to their loop)."""

from __future__ import annotations

import asyncio
import weakref

import redis
import redis.asyncio as aioredis
from django.conf import settings

_sync: dict[tuple[str, float], redis.Redis] = {}
_async: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> {(url, timeout): client}


def sync_client(timeout: float) -> redis.Redis | None:
    """None without REDIS_URL (the caller keeps its counts in memory)."""
    url = settings.REDIS_URL
    if not url:
        return None
    key = (url, timeout)
    if key not in _sync:
        _sync[key] = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    return _sync[key]


def async_client(timeout: float) -> aioredis.Redis | None:
    """A client of the running event loop; None without REDIS_URL."""
    url = settings.REDIS_URL
    if not url:
        return None
    per_loop = _async.setdefault(asyncio.get_running_loop(), {})
    key = (url, timeout)
    if key not in per_loop:
        per_loop[key] = aioredis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    return per_loop[key]
