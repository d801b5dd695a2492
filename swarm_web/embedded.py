"""Embedded mode wiring: the web process runs the agents' steps itself.

At start-up (when daphne's reactor starts, or on an ASGI lifespan startup under another server) it remembers the
server's event loop, frees the leases of the process that ran before it and resumes its running agents at once,
without waiting for a page request. On SIGTERM (daphne stops its reactor; lifespan shutdown) the running steps
hand their agents back within seconds, so the process exits promptly and the next start resumes them.
"""

import asyncio
import atexit
import importlib
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

            if settings.SWARM_EXECUTOR == "inprocess":
                # litellm takes seconds to import: before listening, so resumed agents step at once
                importlib.import_module("agents.runtime")

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
        from agents import executor

        try:
            executor.main_loop = asyncio.get_event_loop()
        except RuntimeError:
            executor.main_loop = None
        if settings.SWARM_EXECUTOR == "inprocess":
            log.info("embedded executor starting: resuming running agents")
            executor.start_sweeper()  # its first sweep is the start-up one: every running agent nobody holds
            # litellm takes seconds to import: warm it now rather than at the first launch
            threading.Thread(target=importlib.import_module, args=("agents.runtime",), daemon=True).start()
        elif settings.SWARM_EXECUTOR == "celery":
            # scheduling a step imports the task module, and with it litellm (measured: 20 s on a busy 2-core
            # machine): warm it now, not inside the first launch or message, which would hold every page meanwhile
            threading.Thread(target=_warm, args=("agents.tasks",), daemon=True).start()

    def shutdown(self) -> None:
        if settings.SWARM_EXECUTOR != "inprocess" or not self.started:
            return
        from agents import executor

        log.info("stopping: handing running steps back")
        executor.shutdown(timeout=settings.SWARM_SHUTDOWN_SECONDS)
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


def _warm(module: str) -> None:
    started = time.monotonic()
    importlib.import_module(module)
    log.info("%s imported in %.1f s: steps can be scheduled", module, time.monotonic() - started)


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
