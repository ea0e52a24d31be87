"""Thin django-q2 tasks for the detection stage."""

from detections import services


def detect_ingests(ingest_ids: list[int]) -> list[int]:
    """The ingest stage's hand-off (HOMESEC_INGEST_NEXT_STAGE)."""
    return services.detection_accept(ingest_ids=list(ingest_ids))


def detect_runs(run_ids: list[int]) -> dict[str, int]:
    return services.detection_process(run_ids=list(run_ids))


def detect_replay(payload: dict) -> dict[str, int]:
    return services.detection_replay(run_ids=list(payload["run_ids"]))


def clip_transcode(clip_ids) -> dict[str, int]:
    if isinstance(clip_ids, dict):  # a dead letter written before replays had their own task
        return clip_transcode_replay(clip_ids)
    return services.clip_transcode(clip_ids=list(clip_ids))


def clip_transcode_replay(payload: dict) -> dict[str, int]:
    return services.clip_transcode_replay(clip_ids=list(payload["clip_ids"]))
