"""The database cache's table (settings.CACHE_TABLE), where the API's rate counts live when
there is no Redis. Made whatever the cache is today, so switching Redis off later needs no
`createcachetable`: `migrate` (run by `manage.py run` and by the tests) has made it."""

import io

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

TABLE = "homesec_cache"  # settings.CACHE_TABLE; a migration keeps the name it was written with


def create(apps, schema_editor):
    command = CreateCacheTable(stdout=io.StringIO())
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, TABLE, dry_run=False)  # skips an existing one


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("core", "0006_dead_letter_task_names")]

    operations = [migrations.RunPython(create, drop)]
