"""The SQLite side of run search (judges/run_search.py): an FTS5 table over transcripts, messages and verdicts, kept
up to date by triggers on their tables, so every write path (the runtime's upserts, bulk deletes, the admin) keeps
it current without calling anything.

Each source row is one row of the table, whose rowid is the row's id * 4 + its kind's code (1 transcript, 2 message,
3 verdict), so a trigger finds it again without a scan. `ensure` makes it all; it runs in the migration that
introduced it and after every `migrate` (a later migration that rebuilds one of those tables, as SQLite's schema
editor does to alter one, drops its triggers with it: they are made again, and the index rebuilt from the rows).
PostgreSQL needs none of this: it searches the rows themselves.
"""

from __future__ import annotations

TABLE = "swarm_run_search"
_ENTRY_BODY = (
    "coalesce(json_extract(NEW.message, '$.content'), '') || ' ' ||"
    " coalesce(json_extract(NEW.message, '$.tool_calls'), '')"
)
SOURCES = [  # (table, kind code, body from NEW, the columns whose change re-indexes the row)
    ("agents_conversationentry", 1, _ENTRY_BODY, "message"),
    ("agents_message", 2, "NEW.text", "text"),
    ("judges_verdict", 3, "NEW.summary || ' ' || NEW.reasons", "summary, reasons"),
]
TRIGGERS = [f"{table}_search_{suffix}" for table, *_ in SOURCES for suffix in ("ai", "au", "ad")]


def _triggers() -> list[str]:
    statements = []
    for table, code, body, columns in SOURCES:
        insert = (
            f"INSERT INTO {TABLE} (rowid, body, kind, obj_id, agent_id)"
            f" VALUES (NEW.id * 4 + {code}, {body}, {code}, NEW.id, NEW.agent_id);"
        )
        delete = f"DELETE FROM {TABLE} WHERE rowid = OLD.id * 4 + {code};"
        statements += [
            f"CREATE TRIGGER {table}_search_ai AFTER INSERT ON {table} BEGIN {insert} END",
            f"CREATE TRIGGER {table}_search_au AFTER UPDATE OF {columns}, agent_id ON {table} BEGIN {delete} {insert} END",
            f"CREATE TRIGGER {table}_search_ad AFTER DELETE ON {table} BEGIN {delete} END",
        ]
    return statements


def _rebuild() -> list[str]:
    statements = [f"DELETE FROM {TABLE}"]
    for table, code, body, _ in SOURCES:
        statements.append(
            f"INSERT INTO {TABLE} (rowid, body, kind, obj_id, agent_id)"
            f" SELECT id * 4 + {code}, {body.replace('NEW.', '')}, {code}, id, agent_id FROM {table}"
        )
    return statements


def ensure(connection) -> bool:
    """Make the table and its triggers where any is missing (and then index every row again); True if it did."""
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        present = {name for (name,) in cursor.fetchall()}
        if TABLE in present and all(t in present for t in TRIGGERS):
            return False
        if not all(table in present for table, *_ in SOURCES):
            return False  # a migration plan that stops before the source tables exist
        cursor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5(body, kind UNINDEXED, obj_id UNINDEXED,"
            " agent_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')"
        )
        for name in TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        for statement in _triggers() + _rebuild():
            cursor.execute(statement)
    return True


def drop(connection) -> None:
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for name in TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")


def after_migrate(sender, using: str = "default", **kwargs) -> None:
    from django.db import connections

    ensure(connections[using])
