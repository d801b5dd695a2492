"""Distributed, a task's cards change in many processes at once (the web process and each worker's pool children):
its watchers get one frame an interval from the whole fleet, each with every card changed since the last, and the
last frame after a burst shows every card's latest change, whichever process made it."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from agents import live_send
from tests.waiting import wait_until

REDIS = "redis://127.0.0.1:6379/8"
INTERVAL = 0.2


@pytest.fixture
def shared(settings):
    settings.REDIS_URL = REDIS
    settings.SWARM_OVERVIEW_INTERVAL = INTERVAL
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS], "prefix": f"swarm-test-overview-{uuid.uuid4().hex[:8]}"},
        }
    }
    made = []
    yield made
    for coalescer in made:
        coalescer.drop_pending()
        live_send._coalescers.remove(coalescer)


def _process(made: list, frames: list, name: str) -> live_send.Coalescer:
    """One process's coalescer: its frames are recorded as (when, its name, task, cards)."""
    lock = threading.Lock()

    def flush(task_id: int, agent_ids: set[int]) -> None:
        with lock:
            frames.append((time.monotonic(), name, task_id, frozenset(agent_ids)))

    coalescer = live_send.Coalescer(flush)
    made.append(coalescer)
    return coalescer


def _wait_quiet(frames: list, quiet: float = 4 * INTERVAL, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = len(frames)
        time.sleep(quiet)
        if len(frames) == count:
            return
    raise AssertionError("frames kept coming")


def test_cards_changed_in_three_processes_go_out_as_one_frame_an_interval_with_every_last_change(shared):
    frames: list = []
    processes = [_process(shared, frames, name) for name in ("web", "worker-1", "worker-2")]
    last_mark: dict[int, float] = {}
    marks_lock = threading.Lock()
    duration = 2.0

    def changes(coalescer: live_send.Coalescer, agents: range) -> None:
        end = time.monotonic() + duration
        while time.monotonic() < end:
            for agent_id in agents:
                with marks_lock:
                    last_mark[agent_id] = time.monotonic()
                coalescer.mark(7, agent_id)  # after the change was committed, as events.broadcast_events does
            time.sleep(0.01)

    threads = [
        threading.Thread(target=changes, args=(process, range(1 + 20 * i, 21 + 20 * i)))
        for i, process in enumerate(processes)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    def every_last_change_sent() -> bool:
        sent = list(frames)
        return all(
            any(when >= marked and agent_id in cards for when, _, _, cards in sent)
            for agent_id, marked in last_mark.items()
        )

    # until every card's last change went out (a loaded machine may stall a sender for longer than a few intervals:
    # a fixed quiet time could end the wait before the last frame), then until no frame comes for five intervals
    wait_until(every_last_change_sent, "every card's last change in a frame")
    _wait_quiet(frames, quiet=5 * INTERVAL)

    assert {card for *_, cards in frames for card in cards} == set(range(1, 61))
    for agent_id, marked in last_mark.items():
        assert any(when >= marked and agent_id in cards for when, _, _, cards in frames), (
            f"agent {agent_id}'s last change never reached a frame"
        )
    # one sender an interval for the whole fleet (each process alone would send its own: ~3x as many)
    span = frames[-1][0] - started
    assert len(frames) <= span / INTERVAL + 2, [(round(w - started, 2), n, len(c)) for w, n, _, c in frames]
    assert all(task == 7 for _, _, task, _ in frames)


def test_a_card_marked_while_another_process_sends_goes_out_in_the_next_frame(shared, settings):
    # a 2 s interval: the marks below must come within the web process's interval (with 0.2 s, a stall of the test's
    # thread on a loaded machine let the interval lapse first, and the worker sent its card in a frame of its own)
    settings.SWARM_OVERVIEW_INTERVAL = interval = 2.0
    frames: list = []
    web, worker = (_process(shared, frames, name) for name in ("web", "worker"))
    web.mark(3, 1)  # task 3 was quiet: its frame goes at once, and the web process has the interval
    wait_until(lambda: frames, "the quiet task's first frame", timeout=10, poll=0.005)
    worker.mark(3, 2)  # within that interval: the worker's card waits for the next frame, not a frame of its own
    web.mark(3, 1)
    wait_until(lambda: len(frames) >= 2, "the next frame")
    _wait_quiet(frames, quiet=1.75 * interval)  # no frame of its own after it either
    assert [set(cards) for *_, cards in frames] == [{1}, {1, 2}]


def test_without_redis_each_process_sends_its_own_cards(shared, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    frames: list = []
    process = _process(shared, frames, "web")
    process.mark(5, 1)
    process.mark(5, 2)
    wait_until(lambda: set().union(*[cards for *_, cards in list(frames)]) == {1, 2}, "both cards in frames")
    _wait_quiet(frames)
    assert set().union(*[cards for *_, cards in frames]) == {1, 2}
    live_send._unknown_until.clear()
