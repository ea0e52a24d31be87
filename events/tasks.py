"""Thin django-q2 tasks for events."""

from events import assessment, services


def events_add(ingest_ids: list[int]) -> list[int]:
    """The detection stage's hand-off (HOMESEC_DETECT_NEXT_STAGE)."""
    return services.event_add_detections(ingest_ids=list(ingest_ids))


def event_assess(event_id: int) -> None:
    """The alert lane: the rules now (the assessment itself without a language model)."""
    assessment.assessment_rules_due(event_id=event_id)


def event_assess_llm(event_id: int) -> None:
    """The slow lane: the language model's assessment."""
    assessment.assessment_llm_run(event_id=event_id)


def prompt_replay(replay_id: int) -> None:
    assessment.prompt_replay_run(replay_id=replay_id)
