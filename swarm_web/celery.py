import gc
import logging
import os
import signal
import threading

from celery import Celery, bootsteps
from celery.signals import (
    celeryd_after_setup,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutting_down,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swarm_web.settings")

app = Celery("swarm_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
log = logging.getLogger(__name__)


@worker_init.connect
def _load_the_step_before_the_pool_forks(**_kwargs) -> None:
    # the step function (with litellm, seconds to import) loads once in the main process and is shared by every
    # pool child, instead of each child importing it at its first step: even an idle worker loads it, since 4
    # children importing it at once made a fleet's first steps wait over a minute on a busy 2-core machine
    from agents import scheduling

    scheduling.step_function()
    # and stays shared: without this the children's garbage collector wrote to every object's header and the pages
    # were copied into each child (measured idle, proportional set size over the 5 processes: 654 MB, with it 308 MB;
    # a bare Celery worker 138 MB). The step function is not loaded lazily in each child instead (1.7x a bare worker
    # idle): 4 children importing litellm at a fleet's first steps put its first model call 49-76 s after the launch
    # on this loaded 2-core machine.
    _nothing_for_the_children_to_undo()
    gc.collect()
    gc.freeze()


def _nothing_for_the_children_to_undo() -> None:
    """What each pool child would otherwise do at its start, writing to pages it shares with this process (so each
    got its own copy): close the database connection this process opened (closing a SQLite connection frees its page
    cache; a PostgreSQL one is dropped by its descriptor) and parse the C declaration billiard's `set_pdeathsig` hands
    cffi (whose parser tables are then built once, here). Measured idle, proportional set size over a worker and 4
    children on PostgreSQL: 326 MB before, 287-294 MB with (each child's own pages 12 MB -> 7 MB; on SQLite 16 -> 8)."""
    from billiard.util import get_pdeathsig
    from django.db import connections

    connections.close_all()
    try:
        get_pdeathsig()  # reads this process's own (changes nothing) through the same declaration
    except OSError:  # not Linux: billiard has no such declaration there either
        pass


@celeryd_after_setup.connect
def _own_steps_queue(sender, instance, **_kwargs) -> None:
    # SWARM_WORKER_DISK=local: the agents whose worktrees are on this worker's disk have their steps on a queue of its
    # own, which it serves besides the shared ones (when it serves steps at all: not a `-Q verify` worker)
    from django.conf import settings

    from agents import scheduling, worker_disk

    if settings.SWARM_WORKER_DISK != "local":
        return
    name = worker_disk.set_name(sender)  # before the pool forks: its children inherit it
    queues = instance.app.amqp.queues
    if scheduling.STEPS in queues.consume_from:
        queues.select_add(scheduling.worker_queue(name))
        log.info("serving the steps of agents on this disk from queue %s", scheduling.worker_queue(name))


@worker_ready.connect
def _sweep_on_start(**_kwargs) -> None:
    # Every worker sweeps (idempotent): agents whose step was lost with a crashed worker or broker get a new one;
    # the first sweep resumes every running agent nobody holds, at once.
    from agents import broker_watch
    from agents.scheduling.sweep import resume_orphans, start_sweeper

    start_sweeper()
    # and, every few seconds, whether Redis lost the steps queued in it (restart, flush, outage)
    broker_watch.watch(lambda: resume_orphans(startup=True))


class _ResumeAfterReconnect(bootsteps.StartStopStep):
    """Runs each time the consumer connects: after the first, the steps it held with a countdown are gone."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.starts = 0

    def start(self, parent) -> None:
        self.starts += 1
        if self.starts > 1:
            from agents import broker_watch

            broker_watch.consumer_reconnected()


app.steps["consumer"].add(_ResumeAfterReconnect)


def _hand_back_on_sigterm(signum, frame) -> None:
    from agents import lease

    lease.begin_shutdown()


# A prefork child's SIGTERM is Celery's own (the child leaves at once): the worker tells children with this one.
HAND_BACK_SIGNAL = signal.SIGUSR2


@worker_process_init.connect
def _pool_child_hands_back(**_kwargs) -> None:
    signal.signal(HAND_BACK_SIGNAL, _hand_back_on_sigterm)


@worker_process_shutdown.connect
def _pool_child_hands_back_its_calls(**_kwargs) -> None:
    # a task returns as soon as its model call is in flight: the calls still in flight in a leaving pool child are
    # cancelled and their agents handed back before it goes (their continuations re-queue them)
    from django.conf import settings

    from agents import inflight, lease
    from agents.scheduling import celery as celery_backend

    lease.begin_shutdown()
    if not inflight.drain(settings.SWARM_SHUTDOWN_SECONDS):
        log.warning("model calls still in flight at the end of the shutdown grace: their leases lapse")
    if not celery_backend.wait_for_lanes(settings.SWARM_SHUTDOWN_SECONDS):
        log.warning("a preparation lane still busy at the end of the shutdown grace: the sweep takes it up")


@worker_shutting_down.connect
def _hand_back_on_shutdown(**_kwargs) -> None:
    """Warm shutdown (SIGTERM): running steps hand their agents back (commands killed, leases freed, the agent
    re-queued for another worker), so the worker's wait for its tasks lasts seconds. A step that cannot stop in
    SWARM_SHUTDOWN_SECONDS has its lease freed and the process leaves anyway."""
    import psutil
    from django.conf import settings

    from agents import lease

    lease.begin_shutdown()
    children = psutil.Process().children()
    for child in children:
        try:
            child.send_signal(HAND_BACK_SIGNAL)
        except psutil.Error:
            pass

    def last_resort() -> None:
        threading.Event().wait(settings.SWARM_SHUTDOWN_SECONDS)
        from agents import scheduling

        try:
            freed = lease.release_for_pids({os.getpid(), *(c.pid for c in children)})
            for agent_id in freed:
                scheduling.kick(agent_id)
            log.warning("shutdown grace over: freed %d lease(s), leaving now", len(freed))
        finally:
            os._exit(0)

    threading.Thread(target=last_resort, name="swarm-shutdown-grace", daemon=True).start()
