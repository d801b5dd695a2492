"""The stored indexes of run search (judges/run_search.py). On SQLite, an FTS5 table over transcripts, messages, verdicts,
the judges' opinions (their reasons and checklist evidence) and the reviewers' decisions (comment and line comments),
kept up to date by triggers on their tables, so every write path (the runtime's upserts, bulk deletes, the admin)
keeps it current without calling anything.

Each source row is one row of the table, whose rowid is the row's id * SPAN + its kind's code (1 transcript,
2 message, 3 verdict, 4 judgement, 5 review), so a trigger finds it again without a scan. `ensure` makes it all; it runs in the migration that
introduced it and after every `migrate` (a later migration that rebuilds one of those tables, as SQLite's schema
editor does to alter one, drops its triggers with it: they are made again, and the index rebuilt from the rows).
On PostgreSQL the rows themselves are searched, through a GIN index per table on the very `to_tsvector(...)`
expression the query filters on (`pg_document`; the indexes are made by judges/migrations/0008_run_search_pg_index.py
and 0009_run_search_opinions_pg_index.py, whose SQL spells that expression out): the planner uses an expression index only for the same expression, and a test
on PostgreSQL checks with EXPLAIN that the search's query is answered from them.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchVector
from django.db.models import F, Func, JSONField, TextField, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Concat

TABLE = "swarm_run_search"
SPAN = 8  # rowid = the row's id * SPAN + its kind's code
_ENTRY_BODY = (
    "coalesce(json_extract(NEW.message, '$.content'), '') || ' ' ||"
    " coalesce(json_extract(NEW.message, '$.tool_calls'), '')"
)


def _each(column: str, path: str) -> str:
    """The texts at `path` in each object of a JSON list column, joined by a space ('' for none)."""
    return (
        f"coalesce((SELECT group_concat(json_extract(value, '{path}'), ' ')"
        f" FROM json_each(NEW.{column}) WHERE type = 'object'), '')"
    )


_VERDICT_AGENT = "(SELECT agent_id FROM judges_verdict WHERE judges_verdict.id = NEW.verdict_id)"
SOURCES = [  # (table, kind code, body from NEW, its agent from NEW, the columns whose change re-indexes the row)
    ("agents_conversationentry", 1, _ENTRY_BODY, "NEW.agent_id", "message, agent_id"),
    ("agents_message", 2, "NEW.text", "NEW.agent_id", "text, agent_id"),
    ("judges_verdict", 3, "NEW.summary || ' ' || NEW.reasons", "NEW.agent_id", "summary, reasons, agent_id"),
    (
        "judges_judgement",
        4,
        f"NEW.reasons || ' ' || {_each('checklist', '$.evidence')}",
        _VERDICT_AGENT,
        "reasons, checklist, verdict_id",
    ),
    (
        "judges_review",
        5,
        f"NEW.comment || ' ' || {_each('line_comments', '$.text')}",
        _VERDICT_AGENT,
        "comment, line_comments, verdict_id",
    ),
]
TRIGGERS = [f"{table}_search_{suffix}" for table, *_ in SOURCES for suffix in ("ai", "au", "ad")]


def _triggers() -> list[str]:
    statements = []
    for table, code, body, agent, columns in SOURCES:
        insert = (
            f"INSERT INTO {TABLE} (rowid, body, kind, obj_id, agent_id)"
            f" VALUES (NEW.id * {SPAN} + {code}, {body}, {code}, NEW.id, {agent});"
        )
        delete = f"DELETE FROM {TABLE} WHERE rowid = OLD.id * {SPAN} + {code};"
        statements += [
            f"CREATE TRIGGER {table}_search_ai AFTER INSERT ON {table} BEGIN {insert} END",
            f"CREATE TRIGGER {table}_search_au AFTER UPDATE OF {columns} ON {table} BEGIN {delete} {insert} END",
            f"CREATE TRIGGER {table}_search_ad AFTER DELETE ON {table} BEGIN {delete} END",
        ]
    return statements


def _rebuild() -> list[str]:
    statements = [f"DELETE FROM {TABLE}"]
    for table, code, body, agent, _ in SOURCES:
        row = {"body": body.replace("NEW.", "src."), "agent": agent.replace("NEW.", "src.")}
        statements.append(
            f"INSERT INTO {TABLE} (rowid, body, kind, obj_id, agent_id)"
            f" SELECT src.id * {SPAN} + {code}, {row['body']}, {code}, src.id, {row['agent']} FROM {table} AS src"
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


# ---------------------------------------------------------------- PostgreSQL


def _pg_each(column: str, key: str) -> Func:
    """The values at `key` of each item of a JSON list column, as a JSON list (immutable, so indexable)."""
    return Func(F(column), Value(f"$[*].{key}"), function="jsonb_path_query_array", output_field=JSONField())


def _pg_parts(kind: str) -> list:
    return {
        "transcript": [KT("message__content"), KT("message__tool_calls")],
        "message": [F("text")],
        "verdict": [F("summary"), F("reasons")],
        "judgement": [F("reasons"), _pg_each("checklist", "evidence")],
        "review": [F("comment"), _pg_each("line_comments", "text")],
    }[kind]


def pg_document(kind: str) -> SearchVector:
    """What a row of this kind is searched by on PostgreSQL: its parts, a null as '', joined by a space, as words
    (`simple`: as written, no stemming). Change it and the migration's indexes no longer serve it: make new ones."""
    return SearchVector(*_pg_parts(kind), config="simple")


def pg_text(kind: str):
    """The same text as `pg_document` reads, for the snippet."""
    parts = _pg_parts(kind)
    if len(parts) == 1:
        return parts[0]
    spaced = [piece for part in parts for piece in (Value(" "), part)][1:]
    return Concat(*spaced, output_field=TextField())


def gin_indexes(indexes: list[tuple[str, str, str]]):
    """A migration's operation making PostgreSQL GIN indexes on `to_tsvector('simple', text)` (index, table, text);
    nothing on SQLite. Reversible: it drops them."""
    from django.db import migrations

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for name, table, text in indexes:
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ((to_tsvector('simple'::regconfig, {text})))",
                None,
            )

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for name, _, _ in indexes:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}", None)

    return migrations.RunPython(forwards, backwards)
