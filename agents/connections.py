"""Database connections of this process's long-lived threads: step threads, model calls' continuations, the
overview's frames, the lease heartbeat, a worker's step tasks and lane jobs.

Each unit of work on such a thread ends with `done()`. Django's own rule for a request (`close_old_connections`, with
CONN_MAX_AGE 0 by default) closes the thread's connection after every unit; a step then opens a new one several
times: on SQLite opening one (the file, its pragmas, Django's SQL functions) costs more CPU than most of the step's
queries, and on PostgreSQL each is a new server process (~23 ms under load: it halved a distributed fleet's steps).
These threads are few, fixed, and live as long as the process, so each keeps its connection while it is healthy
(SWARM_DB_KEEP_CONNECTIONS, on by default): a process keeps at most one connection per such thread, whose count
README's "PostgreSQL connections" works out against max_connections. Request threads keep Django's rule (a new
thread per request under ASGI: kept connections would pile up).
"""

from __future__ import annotations

from django.conf import settings
from django.db import connections


def done() -> None:
    """A unit of work on a long-lived thread is over: tidy this thread's connections for the next one. A connection in
    autocommit, outside any transaction and with no error since, is kept as it is (nothing is asked of it); any other
    is closed when Django would close a request's."""
    for connection in connections.all(initialized_only=True):
        keep = connection.vendor == "sqlite" or settings.SWARM_DB_KEEP_CONNECTIONS
        if keep and connection.connection is not None:
            if connection.autocommit and not connection.in_atomic_block and not connection.errors_occurred:
                continue
            connection.close()
        else:
            connection.close_if_unusable_or_obsolete()
