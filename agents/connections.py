"""Database connections of this process's long-lived threads: step threads, model calls' continuations, the
overview's frames, the lease heartbeat.

Each unit of work on such a thread ends with `done()`. Django's own rule for a request (`close_old_connections`, with
CONN_MAX_AGE 0 by default) closes the thread's connection after every unit; a step then opens a new one several
times, and on SQLite opening one (the file, its pragmas, Django's SQL functions) costs more CPU than most of the
step's queries. These threads are few and live as long as the process, so on SQLite each keeps its connection unless
it is broken. Other databases keep Django's rule: their connections are a shared, counted resource of the server.
"""

from __future__ import annotations

from django.db import close_old_connections, connections


def done() -> None:
    """A unit of work on a long-lived thread is over: tidy this thread's connections for the next one (one left in a
    transaction or broken by an error is closed, as Django closes a request's)."""
    for connection in connections.all(initialized_only=True):
        if connection.vendor == "sqlite":
            connection.close_at = None  # no maximum age: kept unless unusable
    close_old_connections()
