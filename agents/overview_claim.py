"""Which process renders a task's overview frame, where several send to the same watchers (a prefork worker's
children, workers on other machines): each would otherwise render its own frame of the task every interval, the same
cards and strip several times over (a fifth of a busy worker's CPU).

`claim(task_id, agent_ids)` hands this process's changed cards to Redis and asks for the task's frame of this
interval (a lock that lasts `SWARM_OVERVIEW_INTERVAL`, `SET NX PX`), in one script. The process that gets it takes
every process's changed cards and renders them in one frame; the others are told how long to wait before they ask
again, so a card changed meanwhile goes out in the next interval's frame. Without Redis, or when it fails, the
process renders its own cards, as a single process does.
"""

from __future__ import annotations

import logging

from django.conf import settings

from swarm_web import redis_clients

log = logging.getLogger(__name__)

REDIS_TIMEOUT = 2.0  # seconds: a Redis that does not answer is not waited for, the frame is rendered here

# KEYS: the task's changed cards (a set), its frame lock. ARGV: the lock's milliseconds, 1 to take the cards whoever
# holds the lock (a process about to exit), then this process's cards. Returns {1, cards} to the process that renders
# this interval's frame, {0, milliseconds left} to the others.
_CLAIM = """
if #ARGV > 2 then
  redis.call('SADD', KEYS[1], unpack(ARGV, 3))
  redis.call('PEXPIRE', KEYS[1], 60000)  -- left by processes that all stopped: gone in a minute
end
if ARGV[2] == '1' or redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
  local cards = redis.call('SMEMBERS', KEYS[1])
  redis.call('DEL', KEYS[1])
  if #cards == 0 and ARGV[2] ~= '1' then redis.call('DEL', KEYS[2]) end
  return {1, cards}
end
return {0, redis.call('PTTL', KEYS[2])}
"""

_script = None


def claim(task_id: int, agent_ids: set[int], force: bool = False) -> tuple[set[int], float | None]:
    """(the cards to render now, None) for the process that renders the task's frame of this interval (no cards: no
    frame is due); (nothing, seconds) for the others, who ask again after that. `force`: take the cards now whoever
    renders this interval's frame (a process about to exit, whose parked cards nobody else might ask for)."""
    global _script
    client = redis_clients.sync_client(REDIS_TIMEOUT)
    if client is None:
        return agent_ids, None
    prefix = f"{settings.SWARM_CAPS_PREFIX}overview:{task_id}"
    interval_ms = max(1, int(settings.SWARM_OVERVIEW_INTERVAL * 1000))
    try:
        if _script is None:
            _script = client.register_script(_CLAIM)
        got, value = _script(
            keys=[f"{prefix}:cards", f"{prefix}:frame"], args=[interval_ms, int(force), *agent_ids], client=client
        )
    except Exception:  # the cards are still rendered, by this process
        log.exception("sharing the overview frame of task %s failed", task_id)
        return agent_ids, None
    if got:
        return {int(card) for card in value}, None
    return set(), max(int(value), 1) / 1000
