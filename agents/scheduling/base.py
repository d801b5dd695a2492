"""What a scheduling backend is: given (agent, token, delay), run `scheduling.run(agent, token)` once, `delay`
seconds from now, somewhere. A backend never calls the runtime itself."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from agents.models import Agent

_KICK = (
    f"UPDATE {Agent._meta.db_table} SET schedule_token = schedule_token + 1, next_step_at = %s WHERE id = %s"
    " RETURNING schedule_token, disk_holder"
)


class Scheduler:
    mode = "embedded"  # what /api/health reports: "embedded" (steps in the web process) or "distributed"
    runs_steps_here = False  # whether the process that kicks runs the steps too (the web process then warms the
    # step function at start-up and hands its running steps back on SIGTERM)

    def kick(self, agent_id: int, delay: float) -> None:
        due = connection.ops.adapt_datetimefield_value(timezone.now() + timedelta(seconds=delay))
        with connection.cursor() as cursor:  # one statement: the new token and where the worktree is
            cursor.execute(_KICK, [due, agent_id])
            row = cursor.fetchone()
        if row is None:
            raise Agent.DoesNotExist(f"no agent {agent_id}")
        self.schedule(agent_id, row[0], delay, row[1])

    def schedule(self, agent_id: int, token: int, delay: float, holder: str = "") -> None:
        """`holder`: the worker whose disk holds the agent's worktree (SWARM_WORKER_DISK=local), or "" for any."""
        raise NotImplementedError

    def submit(self, name: str, queue: str, args: tuple, delay: float = 0.0) -> bool | None:
        """Run the registered job `name` with `args` soon (`delay` seconds from now), on `queue` (scheduling.submit
        calls this); False when it could not be queued."""
        raise NotImplementedError

    def start(self) -> None:
        """The web process has started (its server's loop runs)."""

    def stop(self, timeout: float) -> None:
        """The web process is stopping (SIGTERM): steps running here hand their agents back within `timeout`."""
