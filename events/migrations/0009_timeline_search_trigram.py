"""The timeline's search (`icontains` over summary, reasoning and review notes) on
PostgreSQL: trigram GIN indexes, so a word that few events contain is found without
reading every event (bench/pages measured 190 ms p50 for a rare word at 100 k events
without them). Django's icontains is `UPPER(column) LIKE UPPER('%word%')` on PostgreSQL,
so the indexes are on UPPER(column). SQLite keeps its plain scan."""

from django.db import migrations

COLUMNS = ("summary", "reasoning", "review_notes")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS event_search_{column} ON events_event USING gin (UPPER({column}) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS event_search_{column}")


class Migration(migrations.Migration):
    dependencies = [("events", "0008_timeline_indexes_and_review_stamp")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
