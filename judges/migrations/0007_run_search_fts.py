"""Search past runs on SQLite: the FTS5 table and its triggers (judges/search_index.py); nothing on PostgreSQL."""

from django.db import migrations


def forwards(apps, schema_editor):
    from judges import search_index

    search_index.ensure(schema_editor.connection)


def backwards(apps, schema_editor):
    from judges import search_index

    search_index.drop(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("judges", "0006_judging_cost_and_checks"),
        ("agents", "0023_api_token_scope"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
