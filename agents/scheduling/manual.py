"""Nothing is scheduled: tests and benchmarks call the step function themselves (tests/factories.run_until_idle).
Jobs (verification) run at once, in the caller's thread, so such a test sees their outcome when the step returns; a
job asked for later (`delay`) is not run at all: the test runs what its sweep would (e.g. notifications.delivery)."""

from __future__ import annotations

from agents import scheduling
from agents.scheduling.base import Scheduler


class ManualScheduler(Scheduler):
    def kick(self, agent_id: int, delay: float) -> None:
        pass  # not even a new token: the agent's row stays as the test left it

    def schedule(self, agent_id: int, token: int, delay: float, holder: str = "") -> None:
        pass

    def submit(self, name: str, queue: str, args: tuple, delay: float = 0.0) -> None:
        if delay <= 0:
            scheduling.run_job(name, args)
