"""Thin django-q2 tasks: ids in, one service call."""

from cameras import ingest


def ingest_process(ingest_ids: list[int]) -> dict[str, int]:
    return ingest.ingest_process(ingest_ids=list(ingest_ids))


def ingest_replay(payload: dict) -> None:
    ingest.ingest_replay(ingest_ids=list(payload["ingest_ids"]))
