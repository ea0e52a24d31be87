"""The assessment's work on the event row (events/assessment.py). Events closed and assessed
before it are marked as having their final assessment, so the sweep asks again only for
those whose own assessment never came."""

from django.db import migrations, models


def mark_final(apps, schema_editor):
    Event = apps.get_model("events", "Event")
    Event.objects.filter(status="closed", assessment_seq__gt=0).update(assessment_final=True)


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0005_event_assessment_seq'),
    ]

    operations = [
        migrations.AddField(
            model_name='event',
            name='assess_attempts',
            field=models.PositiveSmallIntegerField(default=0, help_text='Workers that died assessing it.'),
        ),
        migrations.AddField(
            model_name='event',
            name='assess_claimed_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='event',
            name='assess_deadline_at',
            field=models.DateTimeField(blank=True, help_text='When the rules step in if the language model has not answered.', null=True),
        ),
        migrations.AddField(
            model_name='event',
            name='assess_step',
            field=models.CharField(blank=True, choices=[('', 'idle'), ('queued', 'Queued'), ('running', 'Running')], default='', max_length=8),
        ),
        migrations.AddField(
            model_name='event',
            name='assess_wanted_at',
            field=models.DateTimeField(blank=True, help_text='Asked for since the running assessment read the facts (one more follows).', null=True),
        ),
        migrations.AddField(
            model_name='event',
            name='assessment_final',
            field=models.BooleanField(default=False, help_text='The stored assessment saw the closed event: no answer about the open one replaces it.'),
        ),
        migrations.AddField(
            model_name='event',
            name='reassessed_at',
            field=models.DateTimeField(blank=True, help_text='When a fallback was last sent back to the language model.', null=True),
        ),
        migrations.AlterField(
            model_name='event',
            name='assess_queued_at',
            field=models.DateTimeField(blank=True, help_text='When its task was last sent.', null=True),
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(condition=models.Q(('assess_deadline_at__isnull', False)), fields=['assess_deadline_at'], name='event_assess_deadline'),
        ),
        migrations.RunPython(mark_final, migrations.RunPython.noop),
    ]
