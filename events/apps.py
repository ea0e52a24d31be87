from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"

    def ready(self) -> None:
        from cameras.signals import ingest_removing
        from events.services import events_unlink_ingests

        ingest_removing.connect(
            lambda sender, ingest_ids, **kwargs: events_unlink_ingests(ingest_ids=ingest_ids),
            weak=False,
            dispatch_uid="events.ingest_removing",
        )
