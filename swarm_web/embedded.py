"""Embedded mode wiring: the web process runs the agents' steps itself.

At start-up (when daphne's reactor starts, or on an ASGI lifespan startup under another server) it remembers the
server's event loop, frees the leases of the process that ran before it and resumes its running agents at once,
without waiting for a page request. On SIGTERM (daphne stops its reactor; lifespan shutdown) the running steps
hand their agents back within seconds, so the process exits promptly and the next start resumes them.
"""

import asyncio
import atexit
import logging
import os
import sys
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)


class EmbeddedStartup:
    def __init__(self, app):
        self.app = app
        self.started = False
        self._lock = threading.Lock()
        if "daphne.server" in sys.modules:  # served by daphne: start with its reactor, stop before it does
            from twisted.internet import reactor

            from agents import scheduling

            if scheduling.backend_class().runs_steps_here and scheduling.work_waiting():
                # litellm takes seconds to import: before listening, so resumed agents step at once (an idle
                # server loads it at its first launch or kick instead: agents/scheduling/__init__.py)
                scheduling.step_function()

            from twisted.internet.threads import deferToThread

            reactor.callWhenRunning(self.startup)
            # in a thread (the ORM is not for the event loop, and broadcasts still need it): the reactor waits
            reactor.addSystemEventTrigger("before", "shutdown", lambda: deferToThread(self.shutdown))

    def startup(self) -> None:
        """Once per process, on the server's event loop."""
        with self._lock:
            if self.started:
                return
            self.started = True
        from agents import live_send, scheduling

        try:
            live_send.main_loop = asyncio.get_event_loop()
        except RuntimeError:
            live_send.main_loop = None
        if scheduling.backend_class().runs_steps_here:
            scheduling.backend().start()
        else:
            # the backend's client (Celery's) loads now, not inside the first launch or message
            threading.Thread(target=_load_backend, daemon=True).start()

    def shutdown(self) -> None:
        from agents import scheduling

        if not scheduling.backend_class().runs_steps_here or not self.started:
            return
        log.info("stopping: handing running steps back")
        scheduling.backend().stop(timeout=settings.SWARM_SHUTDOWN_SECONDS)
        atexit.register(_exit_now)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if not self.started and scope["type"] in {"http", "websocket"}:
            self.startup()  # a server that neither runs a reactor nor speaks lifespan
        return await self.app(scope, receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.get_running_loop().run_in_executor(None, self.shutdown)
                await send({"type": "lifespan.shutdown.complete"})
                return


def _load_backend() -> None:
    from agents import scheduling

    started = time.monotonic()
    backend = scheduling.backend()
    log.info("%s loaded in %.1f s: steps can be scheduled", type(backend).__name__, time.monotonic() - started)


def _exit_now() -> None:
    """Last at exit, after the server stopped and handed its steps back: leave without the interpreter's final
    garbage collection, which takes seconds with litellm loaded and step threads frozen mid-call (measured 10 s
    on a busy 2-core machine). Everything that matters is committed; logs are flushed first."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)
