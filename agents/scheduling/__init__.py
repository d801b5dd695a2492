"""When and where agents' steps run: one module whose backend is chosen in settings, the way Django picks an
e-mail backend (`SWARM_SCHEDULER`, the dotted path of a `Scheduler` class).

- `embedded.EmbeddedScheduler`: a timer and a few step threads inside the web process (the default).
- `celery.CeleryScheduler`: one Celery task per step, on any number of workers (the default with `REDIS_URL`).
- `manual.ManualScheduler`: nothing is scheduled; tests and benchmarks call the step function themselves.

`kick(agent_id, delay)` is the one way to ask for an agent's next step. Each kick takes a new schedule token
(`Agent.schedule_token`) and hands the backend (agent, token, delay); `run(agent_id, token)` then runs the step
only while that token is still the agent's newest, so a later kick supersedes every earlier one.

`prepare(agent_ids)` hands launched agents to the backend to have their worktrees made in the background (threads of
the web process, Celery tasks in batches, or at once for the manual backend); each agent is kicked as soon as its
worktree is ready, by the preparation function.

This package imports neither the runtime nor the services: the agents app registers its step and preparation
functions by dotted path (`register_step`, `register_preparation`, in AppConfig.ready), imported at first use.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from agents.models import Agent
from agents.scheduling.base import Scheduler

_step_path = ""
_step = None
_prepare_path = ""
_prepare = None
_backends: dict[str, Scheduler] = {}
_lock = threading.Lock()


def register_step(path: str) -> None:
    """The function that runs one step of an agent: `step(agent_id)` returns the delay before its next step, or
    None when it should not continue."""
    global _step_path, _step
    _step_path, _step = path, None


def step_function():
    global _step
    if _step is None:
        if not _step_path:
            raise ImproperlyConfigured("no step function is registered (the agents app registers it when ready)")
        _step = import_string(_step_path)
    return _step


def register_preparation(path: str) -> None:
    """The function that makes launched agents' worktrees and starts them: `prepare(agent_ids)`."""
    global _prepare_path, _prepare
    _prepare_path, _prepare = path, None


def run_preparation(agent_ids: list[int]) -> list[int]:
    """Make these agents' worktrees here and now (backends call this, in whatever thread or process they chose);
    returns those it did not get to (the process is stopping)."""
    global _prepare
    if _prepare is None:
        if not _prepare_path:
            raise ImproperlyConfigured("no preparation function is registered (the agents app registers it)")
        _prepare = import_string(_prepare_path)
    return _prepare(agent_ids)


def prepare(agent_ids: list[int]) -> None:
    """Have these launched agents' worktrees made in the background; each starts as soon as its own is ready."""
    if agent_ids:
        backend().prepare(list(agent_ids))


def backend_class() -> type[Scheduler]:
    return import_string(settings.SWARM_SCHEDULER)


def backend() -> Scheduler:
    """This process's instance of the configured backend."""
    path = settings.SWARM_SCHEDULER
    with _lock:
        if path not in _backends:
            _backends[path] = import_string(path)()
        return _backends[path]


def kick(agent_id: int, delay: float = 0.0) -> None:
    """Schedule the agent's next step. Each kick supersedes the previous schedule (one chain per agent)."""
    backend().kick(agent_id, delay)


def is_current(agent_id: int, token: int | None) -> bool:
    return token is None or Agent.objects.filter(pk=agent_id, schedule_token=token).exists()


def run(agent_id: int, token: int | None) -> None:
    """Run a scheduled step unless a later kick superseded it, then schedule the next one (backends call this)."""
    if not is_current(agent_id, token):
        return  # superseded by a later schedule: that one runs the step
    delay = step_function()(agent_id)
    if delay is not None:
        kick(agent_id, delay)
