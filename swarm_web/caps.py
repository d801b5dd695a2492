"""Per-user caps, so one account cannot crowd out the others: open websockets and writes a minute (RELIABILITY 15).

- `SocketCap` (ASGI, inside the auth middleware): an account holds at most `SWARM_WS_PER_USER` open websockets,
  counted over every web process. One more is accepted and closed at once with `CLOSE_TOO_MANY_SOCKETS` (4429): a
  refusal before `accept()` would reach a browser only as a failed handshake, which looks like a network fault.
- `PostRateLimit` (Django): past `SWARM_POST_RATE` writes (POST, PUT, PATCH, DELETE) by one account in a clock
  minute, the answer is 429 with `Retry-After`: JSON for the API, a fragment for htmx, a page otherwise.

With REDIS_URL the counts live in Redis, shared by every process; otherwise in this process's memory. A socket's
slot lapses `SWARM_WS_SLOT_SECONDS` after its process last refreshed it (every third of that), so the slots of a
crashed process free themselves; a socket that closes gives its slot back at once. When Redis cannot be reached
the caps let everything through (and log it): they guard fairness, and are not worth an outage.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import threading
import time
import uuid

import redis
from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render

from agents.models import ApiToken
from swarm_web import redis_clients

log = logging.getLogger(__name__)

CLOSE_TOO_MANY_SOCKETS = 4429
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
NOT_COUNTED = {"/accounts/logout/"}  # a person held back can still leave
REDIS_TIMEOUT = 0.5  # seconds: a Redis outage slows a request by at most this, then the caps step aside

# Redis's own clock, so processes on machines whose clocks differ agree on when a slot lapses.
_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if tonumber(ARGV[3]) == 1 and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
return 1
"""

_PROCESS = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


# ---------------------------------------------------------------- where the counts live


class _Memory:
    """This process only (no REDIS_URL): slots and per-minute counts in dicts."""

    def __init__(self):
        self.lock = threading.Lock()
        self.slots: dict[int, dict[str, float]] = {}
        self.writes: dict[tuple[int, int], int] = {}

    def put_slot(self, user_id: int, slot: str, cap: int | None, ttl: float) -> bool:
        now = time.monotonic()
        with self.lock:
            held = {s: t for s, t in self.slots.get(user_id, {}).items() if t > now}
            if cap is not None and len(held) >= cap:
                self.slots[user_id] = held
                return False
            held[slot] = now + ttl
            self.slots[user_id] = held
            return True

    def drop_slot(self, user_id: int, slot: str) -> None:
        with self.lock:
            self.slots.get(user_id, {}).pop(slot, None)

    def count_write(self, user_id: int, window: int) -> int:
        with self.lock:
            for key in [k for k in self.writes if k[1] < window]:
                del self.writes[key]
            self.writes[(user_id, window)] = self.writes.get((user_id, window), 0) + 1
            return self.writes[(user_id, window)]


_memory = _Memory()


def _sync_redis():
    return redis_clients.sync_client(REDIS_TIMEOUT)


def _async_redis():
    return redis_clients.async_client(REDIS_TIMEOUT)


def _slot_key(user_id: int) -> str:
    return f"{settings.SWARM_CAPS_PREFIX}ws:{user_id}"


# ---------------------------------------------------------------- websocket slots


async def _put_slot(user_id: int, slot: str, capped: bool) -> bool:
    cap, ttl = settings.SWARM_WS_PER_USER, settings.SWARM_WS_SLOT_SECONDS
    client = _async_redis()
    if client is None:
        return _memory.put_slot(user_id, slot, cap if capped else None, ttl)
    try:
        return bool(await client.eval(_TAKE_SLOT, 1, _slot_key(user_id), cap, ttl, int(capped), slot))
    except (redis.RedisError, OSError) as exc:
        log.warning("websocket cap not counted, Redis unreachable: %s", exc)
        return True


async def take_slot(user_id: int, slot: str) -> bool:
    """Hold one of the user's websocket slots; False when they all are taken."""
    return await _put_slot(user_id, slot, capped=True)


async def refresh_slot(user_id: int, slot: str) -> None:
    """Still open: the slot lives another SWARM_WS_SLOT_SECONDS (put back if it lapsed while this process stalled)."""
    await _put_slot(user_id, slot, capped=False)


async def give_back_slot(user_id: int, slot: str) -> None:
    client = _async_redis()
    if client is None:
        _memory.drop_slot(user_id, slot)
        return
    try:
        await client.zrem(_slot_key(user_id), slot)
    except (redis.RedisError, OSError) as exc:  # the slot lapses on its own
        log.warning("websocket slot not given back, Redis unreachable: %s", exc)


class SocketCap:
    """ASGI middleware for websockets, inside AuthMiddlewareStack (it needs `scope["user"]`)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        if scope["type"] != "websocket" or settings.SWARM_WS_PER_USER <= 0 or not getattr(user, "is_authenticated", 0):
            return await self.app(scope, receive, send)
        user_id, slot = user.pk, f"{_PROCESS}:{uuid.uuid4().hex}"
        if not await take_slot(user_id, slot):
            return await _refuse(receive, send)
        keeper = asyncio.ensure_future(_keep(user_id, slot))
        try:
            return await self.app(scope, receive, send)
        finally:
            keeper.cancel()
            await asyncio.shield(give_back_slot(user_id, slot))


async def _keep(user_id: int, slot: str) -> None:
    while True:
        await asyncio.sleep(settings.SWARM_WS_SLOT_SECONDS / 3)
        await refresh_slot(user_id, slot)


async def _refuse(receive, send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": CLOSE_TOO_MANY_SOCKETS})


# ---------------------------------------------------------------- writes a minute


def count_write(user_id: int) -> int | None:
    """Count one write by the user; the seconds until they may write again when it is over the rate, else None."""
    rate = settings.SWARM_POST_RATE
    if rate <= 0:
        return None
    now = time.time()
    window = int(now // 60)
    client = _sync_redis()
    if client is None:
        count = _memory.count_write(user_id, window)
    else:
        key = f"{settings.SWARM_CAPS_PREFIX}post:{user_id}:{window}"
        try:
            with client.pipeline() as pipe:
                count = pipe.incr(key).expire(key, 120).execute()[0]
        except (redis.RedisError, OSError) as exc:
            log.warning("write rate not counted, Redis unreachable: %s", exc)
            return None
    if count <= rate:
        return None
    return max(1, math.ceil((window + 1) * 60 - now))


def _writer(request) -> int | None:
    """Who writes: the API token's user on /api/ (the API never reads the session), else the logged-in user."""
    if request.path.startswith("/api/"):
        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            return None
        # a wrong token is counted by the API's own check (django-axes), not here
        return ApiToken.objects.filter(digest=ApiToken.hash(raw.strip())).values_list("user_id", flat=True).first()
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


class PostRateLimit:
    """Django middleware, after authentication and django-htmx."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in WRITE_METHODS and request.path not in NOT_COUNTED:
            user_id = _writer(request)
            wait = count_write(user_id) if user_id is not None else None
            if wait is not None:
                return too_many_writes(request, wait)
        return self.get_response(request)


def too_many_writes(request, wait: int):
    rate = settings.SWARM_POST_RATE
    message = f"Too many changes from your account: at most {rate:,} a minute. Nothing was done; try again in {wait} s."
    htmx = getattr(request, "htmx", None)
    if request.path.startswith("/api/"):
        response = JsonResponse({"error": message, "retry_after": wait}, status=429)
    elif htmx and not htmx.boosted:
        # the fragment goes above the page's content, whatever the form targeted: the form stays as it was
        response = render(request, "partials/too_many_writes.html", {"message": message}, status=429)
        response["HX-Retarget"] = "main"
        response["HX-Reswap"] = "afterbegin"
    else:
        response = render(request, "429.html", {"message": message}, status=429)
    response["Retry-After"] = str(wait)
    return response
