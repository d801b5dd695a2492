"""Search past runs on PostgreSQL: a GIN index per searched table on the expression run search filters on
(judges/search_index.pg_document, spelled out here as Django writes it), so a query reads the index instead of
making every row's tsvector; nothing on SQLite, whose FTS5 table 0007 made.

The planner uses an expression index only for the very same expression: change pg_document, and add a migration that
makes new indexes (tests/test_run_search.py's EXPLAIN test fails until then)."""

from django.db import migrations

from judges.search_index import gin_indexes

INDEXES = [  # (index, table, the text searched)
    (
        "agents_conversationentry_search",
        "agents_conversationentry",
        "COALESCE((message ->> 'content'), '') || ' ' || COALESCE((message ->> 'tool_calls'), '')",
    ),
    ("agents_message_search", "agents_message", "COALESCE(text, '')"),
    ("judges_verdict_search", "judges_verdict", "COALESCE(summary, '') || ' ' || COALESCE((reasons)::text, '')"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("judges", "0007_run_search_fts"),
    ]

    operations = [gin_indexes(INDEXES)]
