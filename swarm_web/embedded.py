"""Embedded mode wiring: on the first connection, remember the server's event loop and resume orphans."""

import asyncio
import importlib
import threading

from django.conf import settings


class EmbeddedStartup:
    def __init__(self, app):
        self.app = app
        self.started = False

    async def __call__(self, scope, receive, send):
        if not self.started and scope["type"] in {"http", "websocket"}:
            self.started = True
            from agents import executor

            executor.main_loop = asyncio.get_running_loop()
            if settings.SWARM_EXECUTOR == "inprocess":
                executor.start_sweeper()
                # litellm takes seconds to import: warm it now rather than at the first launch
                threading.Thread(target=importlib.import_module, args=("agents.runtime",), daemon=True).start()
        return await self.app(scope, receive, send)
