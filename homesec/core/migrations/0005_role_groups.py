"""The roles' permissions: the admin group holds every homesec permission (before this it
held none, so an admin who was not a superuser saw an empty console), the viewer group the
view ones (viewers stay out of the console: they are not staff)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def forwards(apps, schema_editor):
    from homesec.core.services import role_groups_sync

    # Permissions are made after migrating; this migration needs them now.
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, verbosity=0, apps=apps)
        config.models_module = None
    role_groups_sync(group_model=apps.get_model("auth", "Group"), permission_model=apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_heartbeat_problem"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("cameras", "0004_ingest_deleted"),
        ("detections", "0002_clip_claims"),
        ("events", "0006_assessment_work"),
        ("alerts", "0002_alert_outlives_its_event"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
