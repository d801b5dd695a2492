"""Nothing is scheduled: tests and benchmarks call the step function themselves (tests/factories.run_until_idle).
Worktrees are made at once, in the caller's thread, so a launch returns agents that are running."""

from __future__ import annotations

from agents import scheduling
from agents.scheduling.base import Scheduler


class ManualScheduler(Scheduler):
    def kick(self, agent_id: int, delay: float) -> None:
        pass  # not even a new token: the agent's row stays as the test left it

    def schedule(self, agent_id: int, token: int, delay: float) -> None:
        pass

    def prepare(self, agent_ids: list[int]) -> None:
        scheduling.run_preparation(agent_ids)
