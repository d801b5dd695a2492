"""Steps' own work in one process is taken in turn, in order of arrival (agents/turns.py): a burst of answers is worked
through one after the other, so the first is done after one step's time instead of all after the whole burst's."""

from __future__ import annotations

import threading
import time

import pytest

from agents import turns


@pytest.fixture
def one_turn():
    return turns.Turns(1)  # (not the process's own: other tests' threads may be taking turns)


def _queued(gate: turns.Turns, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(gate._waiting) < n:
        assert time.monotonic() < deadline, f"{n} threads never queued"
        time.sleep(0.001)


def test_a_burst_is_worked_through_one_at_a_time_in_order_of_arrival(one_turn):
    done, inside, most = [], [0], [0]
    lock = threading.Lock()

    def step(i: int) -> None:
        with one_turn.turn():
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.01)  # its own work
            with lock:
                inside[0] -= 1
                done.append((i, time.monotonic()))

    threads = []
    with one_turn.turn():  # the burst arrives while another step has the turn
        for i in range(8):
            threads.append(threading.Thread(target=step, args=(i,)))
            threads[-1].start()
            _queued(one_turn, i + 1)
    for t in threads:
        t.join(10)
    # one after the other, in order: the first was done after one step's time, not after the whole burst's
    assert [i for i, _ in done] == list(range(8))
    assert most[0] == 1
    assert all(later - earlier >= 0.009 for (_, earlier), (_, later) in zip(done, done[1:], strict=False))


def test_turns_nest_and_a_long_wait_gives_the_turn_up(one_turn):
    order = []
    gave_up = threading.Event()

    def other() -> None:
        with one_turn.turn():
            order.append("other")

    with one_turn.turn():
        with one_turn.turn():  # nested: no second turn to wait for
            t = threading.Thread(target=other)
            t.start()
            _queued(one_turn, 1)
            with one_turn.released():  # e.g. a push to the web process: the other step goes meanwhile
                t.join(5)
                gave_up.set()
            order.append("back")
    assert order == ["other", "back"] and gave_up.is_set()
    assert one_turn._free == 1 and not one_turn._waiting  # every turn given back


def test_no_turns_lets_every_thread_run_at_once():
    gate = turns.Turns(0)
    inside = threading.Barrier(3, timeout=5)

    def step() -> None:
        with gate.turn():
            inside.wait()  # all three inside together

    threads = [threading.Thread(target=step) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not inside.broken
