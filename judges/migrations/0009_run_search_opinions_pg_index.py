"""Search past runs on PostgreSQL: GIN indexes for the two kinds added after 0008, the judges' opinions (reasons and
checklist evidence) and the reviewers' decisions (comment and line comments), each on the expression run search
filters on (judges/search_index.pg_document, spelled out here as Django writes it). Nothing on SQLite: its FTS5
table's triggers for them are made by judges/search_index.ensure, which runs after every `migrate`.

The planner uses an expression index only for the very same expression: change pg_document, and add a migration that
makes new indexes (tests/test_run_search.py's EXPLAIN test fails until then)."""

from django.db import migrations

from judges.search_index import gin_indexes

INDEXES = [  # (index, table, the text searched)
    (
        "judges_judgement_search",
        "judges_judgement",
        "COALESCE((reasons)::text, '') || ' ' ||"
        " COALESCE((jsonb_path_query_array(checklist, '$[*].evidence'))::text, '')",
    ),
    (
        "judges_review_search",
        "judges_review",
        "COALESCE(comment, '') || ' ' || COALESCE((jsonb_path_query_array(line_comments, '$[*].text'))::text, '')",
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("judges", "0008_run_search_pg_index"),
    ]

    operations = [gin_indexes(INDEXES)]
