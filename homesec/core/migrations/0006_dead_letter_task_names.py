"""Dead letters name the task that replays them: rewrite the names from before tasks were
named for their services (the old names stay importable too, for messages in flight)."""

from django.db import migrations

RENAMED = {
    "detections.tasks.detect_replay": "detections.tasks.detection_replay",
    "detections.tasks.detect_runs": "detections.tasks.detection_process",
    "detections.tasks.detect_ingests": "detections.tasks.detection_accept",
    "events.tasks.events_add": "events.tasks.event_add_detections",
    "events.tasks.event_assess": "events.tasks.assessment_rules_due",
    "events.tasks.event_assess_llm": "events.tasks.assessment_llm_run",
    "events.tasks.prompt_replay": "events.tasks.prompt_replay_run",
    # A transcode's dead letter was replayed by the transcode task itself, which skipped
    # failed copies; it has a replay task of its own now.
    "detections.tasks.clip_transcode": "detections.tasks.clip_transcode_replay",
}


def forwards(apps, schema_editor):
    DeadLetter = apps.get_model("core", "DeadLetter")
    for old, new in RENAMED.items():
        DeadLetter.objects.filter(task=old).update(task=new)


def backwards(apps, schema_editor):
    DeadLetter = apps.get_model("core", "DeadLetter")
    for old, new in RENAMED.items():
        DeadLetter.objects.filter(task=new).update(task=old)


class Migration(migrations.Migration):
    dependencies = [("core", "0005_role_groups")]

    operations = [migrations.RunPython(forwards, backwards)]
