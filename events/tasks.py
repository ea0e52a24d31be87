"""Thin django-q2 tasks for events, each named for the service it calls."""

from events import assessment, grouping


def event_add_detections(ingest_ids: list[int]) -> list[int]:
    """The detection stage's hand-off (HOMESEC_DETECT_NEXT_STAGE)."""
    return grouping.event_add_detections(ingest_ids=list(ingest_ids))


def assessment_rules_due(event_id: int) -> None:
    """The alert lane: the rules now (the assessment itself without a language model)."""
    assessment.assessment_rules_due(event_id=event_id)


def assessment_llm_run(event_id: int) -> None:
    """The slow lane: the language model's assessment."""
    assessment.assessment_llm_run(event_id=event_id)


def prompt_replay_run(replay_id: int) -> None:
    assessment.prompt_replay_run(replay_id=replay_id)


# Names from before the tasks were named for their services: messages still in a queue at
# an upgrade, and dead letters, carry them.
events_add = event_add_detections
event_assess = assessment_rules_due
event_assess_llm = assessment_llm_run
prompt_replay = prompt_replay_run
