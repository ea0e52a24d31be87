"""Thin django-q2 tasks for the detection stage, each named for the service it calls."""

from typing import Any

from detections import services


def detection_accept(ingest_ids: list[int]) -> list[int]:
    """The ingest stage's hand-off (HOMESEC_INGEST_NEXT_STAGE)."""
    return services.detection_accept(ingest_ids=list(ingest_ids))


def detection_process(run_ids: list[int]) -> dict[str, int]:
    return services.detection_process(run_ids=list(run_ids))


def detection_replay(payload: dict) -> dict[str, int]:
    return services.detection_replay(run_ids=list(payload["run_ids"]))


def clip_transcode(clip_ids: list[int] | dict[str, Any]) -> dict[str, int]:
    if isinstance(clip_ids, dict):  # a dead letter written before replays had their own task
        return clip_transcode_replay(clip_ids)
    return services.clip_transcode(clip_ids=list(clip_ids))


def clip_transcode_replay(payload: dict) -> dict[str, int]:
    return services.clip_transcode_replay(clip_ids=list(payload["clip_ids"]))


# Names from before the tasks were named for their services: messages still in a queue at
# an upgrade carry them (dead letters are rewritten by a migration).
detect_ingests = detection_accept
detect_runs = detection_process
detect_replay = detection_replay
