"""Django's SQLite backend, with the process's writers queued on a lock instead of polling SQLite's.

SQLite has one writer at a time. A connection that finds the write lock taken waits in SQLite's busy handler,
which sleeps and retries (1, 2, 5 ... up to 100 ms a try, in no order), so with a dozen threads of the embedded
mode writing at once a write could wait seconds while the lock sat free (measured at 128 agents: 40 % of the step threads'
time went to those waits). With 12 threads writing, a transaction's p99 went from 1.0-1.7 s to 0.2 s
(`python -m benchmarks.sqlite_writers`).
Here every write transaction of this process (`BEGIN IMMEDIATE`, and a write statement outside a transaction)
first takes a lock shared by the process's connections to the same file, and hands it on at once when it ends.
Other processes (a `manage.py` command) still meet SQLite's busy handler, as before; after the connection's busy
timeout the lock is given up on and SQLite's handler decides, as it did.
"""

from __future__ import annotations

import os
import threading

from django.db.backends.sqlite3 import base

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def _lock_for(name: str) -> threading.Lock:
    with _guard:
        return _locks.setdefault(name, threading.Lock())


def _forget_locks() -> None:  # a forked child's threads are gone, and a held lock would be held forever
    global _guard
    _locks.clear()
    _guard = threading.Lock()


os.register_at_fork(after_in_child=_forget_locks)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._write_held = False

    def _take_write_lock(self) -> None:
        if self._write_held or self.is_in_memory_db():
            return
        timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5))
        self._write_held = _lock_for(str(self.settings_dict["NAME"])).acquire(timeout=timeout)

    def _give_write_lock(self) -> None:
        if self._write_held:
            self._write_held = False
            _lock_for(str(self.settings_dict["NAME"])).release()

    def _start_transaction_under_autocommit(self):
        self._take_write_lock()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._give_write_lock()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._give_write_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._give_write_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._give_write_lock()

    def create_cursor(self, name=None):
        return self.connection.cursor(factory=lambda conn: QueuedWriteCursor(conn, self))


class QueuedWriteCursor(base.SQLiteCursorWrapper):
    """A write statement outside a transaction (an `update()` in autocommit) takes the process's write lock too."""

    def __init__(self, connection, wrapper: DatabaseWrapper):
        super().__init__(connection)
        self.wrapper = wrapper

    def execute(self, query, params=None):
        if self.wrapper._write_held or not self.wrapper.get_autocommit() or not _is_write(query):
            return super().execute(query, params)
        self.wrapper._take_write_lock()
        try:
            return super().execute(query, params)
        finally:
            self.wrapper._give_write_lock()

    def executemany(self, query, param_list):
        if self.wrapper._write_held or not self.wrapper.get_autocommit() or not _is_write(query):
            return super().executemany(query, param_list)
        self.wrapper._take_write_lock()
        try:
            return super().executemany(query, param_list)
        finally:
            self.wrapper._give_write_lock()


def _is_write(query: str) -> bool:
    return query.lstrip()[:7].upper().startswith(WRITES)
