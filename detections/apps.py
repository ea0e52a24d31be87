from django.apps import AppConfig


class DetectionsConfig(AppConfig):
    name = "detections"

    def ready(self) -> None:
        from cameras.signals import ingest_removed
        from detections.services import ingest_outputs_delete

        ingest_removed.connect(
            lambda sender, ingest_ids, **kwargs: ingest_outputs_delete(ingest_ids=ingest_ids),
            weak=False,
            dispatch_uid="detections.ingest_removed",
        )
