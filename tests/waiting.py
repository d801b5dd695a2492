"""Waiting for something another thread or process does: one polling loop for every test and harness (no Django
here, so the harnesses that drive live servers from outside, benchmarks/soak.py, import it too)."""

from __future__ import annotations

import time


class NotWithin(AssertionError):
    """What `wait_until` raises when its time is up (a failure inside the predicate stays what it was)."""


def wait_until(predicate, what: str, timeout: float = 30.0, poll: float = 0.05, details=None):
    """Poll `predicate` until it returns something truthy, and return that; past `timeout` seconds fail, naming
    `what` and adding `details()` (a server's logs, say)."""
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        if time.monotonic() >= deadline:
            raise NotWithin(f"{what}: not within {timeout:.0f} s" + (f"\n{details()}" if details else ""))
        time.sleep(poll)
    return found


def minute_left(seconds: float = 20.0) -> None:
    """Wait, if need be, until the wall clock's minute has `seconds` left: counts kept per clock minute (the writes a
    minute cap) start again at its turn, so a test that counts must not straddle one."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.05)
