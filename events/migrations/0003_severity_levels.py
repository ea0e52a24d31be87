from django.db import migrations

DEFAULT_LEVELS = [("low", 0), ("medium", 30), ("high", 60), ("critical", 85)]


def seed(apps, schema_editor):
    level = apps.get_model("events", "SeverityLevel")
    if not level.objects.exists():
        level.objects.bulk_create([level(name=name, min_score=score) for name, score in DEFAULT_LEVELS])


class Migration(migrations.Migration):
    dependencies = [("events", "0002_assessment")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
