"""When and where agents' steps run: one module whose backend is chosen in settings, the way Django picks an
e-mail backend (`SWARM_SCHEDULER`, the dotted path of a `Scheduler` class).

- `embedded.EmbeddedScheduler`: a timer and a few step threads inside the web process (the default).
- `celery.CeleryScheduler`: one Celery task per step, on any number of workers (the default with `REDIS_URL`).
- `manual.ManualScheduler`: nothing is scheduled; tests and benchmarks call the step function themselves.

`kick(agent_id, delay)` is the one way to ask for an agent's next step. Each kick takes a new schedule token
(`Agent.schedule_token`) and hands the backend (agent, token, delay); `run(agent_id, token)` then runs the step
only while that token is still the agent's newest, so a later kick supersedes every earlier one.

Work other than steps runs as jobs on their own queues (`register_job`, `submit`), so it never takes a step's
slot: verification on "verify", bookkeeping on "housekeeping". Embedded, each queue has its own few threads;
distributed, each is a Celery queue, which a worker serves all of (`make worker`) or one of (`-Q verify`).

`prepare(agent_ids)` has launched agents' worktrees made in the background: the `agents.prepare` job on the
housekeeping queue, in a few lanes of small batches (each batch queues the rest of its lane), so a launch answers
before any worktree exists, the first agents start within seconds and the queue never holds the whole fleet.

This package imports neither the runtime nor the services: the agents app registers its step function by dotted
path (`register_step`, in AppConfig.ready), and it is imported the first time a step runs; apps register their jobs
the same way. The step function brings litellm (seconds to import, ~190 MB): the embedded web process loads it
before it serves when agents are running at its start (`work_waiting`), else in the background at the first sign of
work (`warm_step`: a task written, a launch's preparation, a kick), so an idle server stays small. (A Celery worker
loads it before its pool forks, for its children to share.)
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.utils.module_loading import import_string

from agents.models import Agent
from agents.scheduling.base import Scheduler

_step_path = ""
_step = None
_warming = False
_backends: dict[str, Scheduler] = {}
_lock = threading.Lock()

STEPS, VERIFY, HOUSEKEEPING = "steps", "verify", "housekeeping"
QUEUES = (STEPS, VERIFY, HOUSEKEEPING)


def worker_queue(holder: str) -> str:
    """The steps queue of one worker (SWARM_WORKER_DISK=local): the agents whose worktree is on its disk."""
    return f"{STEPS}.{holder}"


_jobs: dict[str, tuple[str, str]] = {}  # job name -> (dotted path of its function, queue)
_lane_jobs: set[str] = set()  # jobs that run on a lane thread of a worker process, holding no pool slot


def register_step(path: str) -> None:
    """The function that runs one step of an agent: `step(agent_id)` returns the delay before its next step, or
    None when it should not continue or goes on elsewhere (a step whose model call is in flight kicks the next one
    itself when the call is over)."""
    global _step_path, _step
    _step_path, _step = path, None


def register_job(name: str, path: str, queue: str, lane: bool = False) -> None:
    """A job other code may `submit` by name: its function (dotted path, imported when it first runs) and the queue
    it runs on. Only registered names run: a message naming anything else is refused.

    `lane`: a long job (minutes of git) that a Celery worker runs on a lane thread of its own beside the pool, so it
    holds none of the worker's few slots while it works (the message is acknowledged when the lane takes it: a job
    lost with its process must be found undone by its owner's sweep)."""
    if queue not in QUEUES or queue == STEPS:
        raise ImproperlyConfigured(f"job {name!r}: queue must be one of {QUEUES[1:]}, not {queue!r}")
    _jobs[name] = (path, queue)
    if lane:
        _lane_jobs.add(name)
    else:
        _lane_jobs.discard(name)


def in_lane(name: str) -> bool:
    return name in _lane_jobs


def job_queue(name: str) -> str:
    return _job(name)[1]


def _job(name: str) -> tuple[str, str]:
    if name not in _jobs:
        raise ImproperlyConfigured(f"no job named {name!r} is registered")
    return _jobs[name]


def submit(name: str, *args, delay: float = 0.0) -> bool:
    """Run a registered job soon (or `delay` seconds from now), on its queue (arguments must be JSON values: they may
    travel through Redis). False when it could not be queued (Redis unreachable): the caller's sweep must find the
    work undone. A delayed job is not durable in the embedded mode: its owner's sweep must find it due."""
    return backend().submit(name, _job(name)[1], args, delay) is not False


def run_job(name: str, args) -> None:
    """Run a job now (backends call this)."""
    import_string(_job(name)[0])(*args)


PREPARE_JOB = "agents.prepare"  # registered by the agents app (agents.preparation.prepare_batch)
PREPARE_LANES = 2  # preparation jobs queued at once per launch
PREPARE_BATCH = 25  # worktrees one job makes before it queues the rest of its lane


def prepare(agent_ids: list[int]) -> None:
    """Have these launched agents' worktrees made in the background; each starts as soon as its own is ready."""
    ids = list(agent_ids)
    for lane in range(PREPARE_LANES):
        prepare_later(ids[lane::PREPARE_LANES])


def prepare_later(agent_ids: list[int]) -> None:
    """Queue one lane's next batch (a lane that cannot be queued is taken up by the preparation's sweep)."""
    if agent_ids:
        submit(PREPARE_JOB, list(agent_ids))


def step_function():
    global _step
    if _step is None:
        if not _step_path:
            raise ImproperlyConfigured("no step function is registered (the agents app registers it when ready)")
        _step = import_string(_step_path)
    return _step


def warm_step() -> None:
    """Load the step function (and litellm with it: seconds and ~190 MB) in the background, once: called at the first
    sign of work in a process that runs steps, so an idle process stays small and its first step barely waits."""
    global _warming
    with _lock:
        if _step is not None or _warming:
            return
        _warming = True
    threading.Thread(target=step_function, name="swarm-warm-step", daemon=True).start()


def expect_steps() -> None:
    """Steps are likely soon (a task was written): warm the step function if this process runs them."""
    if backend_class().runs_steps_here:
        warm_step()


def work_waiting() -> bool:
    """Whether agents are running or preparing (at start-up: the process will have steps to run at once)."""
    try:
        return Agent.objects.filter(status__in=(Agent.Status.RUNNING, Agent.Status.PREPARING)).exists()
    except DatabaseError:  # not migrated yet: nothing can be waiting
        return False


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
