"""Database connections of this process's long-lived threads: step threads, model calls' continuations, the
overview's frames, the lease heartbeat.

Each unit of work on such a thread ends with `done()`. Django's own rule for a request (`close_old_connections`, with
CONN_MAX_AGE 0 by default) closes the thread's connection after every unit; a step then opens a new one several
times, and on SQLite opening one (the file, its pragmas, Django's SQL functions) costs more CPU than most of the
step's queries. These threads are few and live as long as the process, so on SQLite each keeps its connection unless
it is broken. Other databases keep Django's rule: their connections are a shared, counted resource of the server.
"""

from __future__ import annotations

from django.db import connections


def done() -> None:
    """A unit of work on a long-lived thread is over: tidy this thread's connections for the next one. A SQLite
    connection in autocommit, outside any transaction and with no error since, is kept as it is (nothing is asked of
    it); any other is closed when Django would close a request's."""
    for connection in connections.all(initialized_only=True):
        if connection.vendor == "sqlite" and connection.connection is not None:
            if connection.autocommit and not connection.in_atomic_block and not connection.errors_occurred:
                continue
            connection.close()
        else:
            connection.close_if_unusable_or_obsolete()
