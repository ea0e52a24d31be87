"""Assessing events: facts from the database, a verdict from an analyzer, stored with its
provenance. The level always comes from the severity table when a score is written."""

from __future__ import annotations

import base64
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import cv2
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from cameras.models import Camera
from events.analyzers import llm, rules
from events.models import ActivityCount, Event, PromptReplay, PromptVersion, SeverityLevel
from homesec.core.live import live_publish
from homesec.core.tasks import enqueue

ASSESS_TASK = "events.tasks.event_assess"


def hour_of_week(moment, tz: ZoneInfo) -> int:
    local = moment.astimezone(tz)
    return local.weekday() * 24 + local.hour


def activity_count_add(*, camera: Camera, moment) -> None:
    """Count one event at this hour of the week for the camera (its usual activity)."""
    how = hour_of_week(moment, camera.zoneinfo)
    row, _ = ActivityCount.objects.get_or_create(camera=camera, hour_of_week=how)
    ActivityCount.objects.filter(pk=row.pk).update(count=F("count") + 1)


# The table's seed, and what applies if an operator empties it.
DEFAULT_LEVELS = (("low", 0), ("medium", 30), ("high", 60), ("critical", 85))


def _levels() -> list[tuple[str, int]]:
    return list(SeverityLevel.objects.values_list("name", "min_score")) or list(DEFAULT_LEVELS)


def risk_level_for(score: int) -> str:
    levels = _levels()
    eligible = [(minimum, name) for name, minimum in levels if minimum <= score]
    return max(eligible)[1] if eligible else min((m, n) for n, m in levels)[1]


def level_names() -> list[str]:
    """The level names from the lowest to the highest: how levels compare."""
    return [name for name, _ in sorted(_levels(), key=lambda level: level[1])]


def event_facts(event: Event) -> rules.Facts:
    camera = event.camera
    tz = camera.zoneinfo
    moment = event.captured_to or event.last_detection_at
    counted = ActivityCount.objects.filter(camera=camera, hour_of_week=hour_of_week(moment, tz)).first()
    zone_kinds = {kind for kinds in event.detections.values_list("zone_kinds", flat=True) for kind in kinds}
    return rules.Facts(
        classes=dict(event.classes),
        max_confidence=event.max_confidence,
        local_hour=moment.astimezone(tz).hour,
        zone_kinds=zone_kinds,
        dwell_s=(event.last_detection_at - event.chain_started_at).total_seconds(),
        history_days=(timezone.now() - camera.created_at).total_seconds() / 86400,
        # This event is counted already: "usual" means other events at this hour.
        hour_count=max(0, (counted.count if counted else 0) - 1),
    )


SYSTEM_PROMPT = (
    "You assess the risk of what a home-security camera saw, for the household that owns it. "
    "Weigh who or what was seen, where, when, for how long, and how unusual that is for this camera. "
    "Answer with one JSON object only: risk_score (integer 0-100), summary (1-2 sentences), reasoning, "
    "recommended_action, risk_factors (list of short strings)."
)


def active_prompt() -> tuple[str, int | None]:
    """The active prompt version's text and number; the built-in one when none is active."""
    active = PromptVersion.objects.filter(active=True).first()
    return (active.system_prompt, active.version) if active else (SYSTEM_PROMPT, None)


def event_prompt(
    event: Event, facts: rules.Facts, *, budget: int | None = None, system: str | None = None
) -> list[dict]:
    """The messages for the LLM, kept within HOMESEC_LLM_MAX_PROMPT_CHARS (no tokenizer is
    available offline): the detection list is cut, saying how many were left out."""
    budget = budget or settings.LLM_MAX_PROMPT_CHARS
    camera, tz = event.camera, event.camera.zoneinfo
    local = (event.captured_to or event.last_detection_at).astimezone(tz)
    zones = ", ".join(f"{z.name} ({z.kind})" for z in camera.zones.filter(enabled=True)) or "none defined"
    others = Event.objects.filter(started_at__gte=event.started_at - timedelta(minutes=10)).exclude(camera=camera)
    recent = (
        "; ".join(
            f"{e.camera.name}: {', '.join(e.classes)} ({e.risk_level or 'not assessed'})"
            for e in others.select_related("camera")[:10]
        )
        or "none"
    )
    if facts.history_days >= 7:
        usual = f"{facts.hour_count} other events at this hour of the week in {facts.history_days:.0f} days"
    else:
        usual = f"unknown ({facts.history_days:.1f} days of history)"
    head = [
        f"Camera: {camera.name}",
        f"Local time: {local:%A %Y-%m-%d %H:%M} ({tz.key})",
        f"Zones: {zones}",
        f"Activity has lasted {facts.dwell_s / 60:.1f} min (across back-to-back events).",
        f"Usual activity: {usual}.",
        f"Events on other cameras in the last 10 minutes: {recent}",
        "Detections (class, confidence, box x,y,w,h in pixels, zones):",
    ]
    system = system if system is not None else active_prompt()[0]
    used = sum(len(line) + 1 for line in head) + len(system) + 80
    lines, total = [], 0
    for d in event.detections.order_by("-confidence"):
        total += 1
        line = f"- {d.label} {d.confidence:.2f} ({d.x},{d.y},{d.width},{d.height}) {', '.join(d.zones) or '-'}"
        if used + len(line) + 1 <= budget:
            lines.append(line)
            used += len(line) + 1
    if total > len(lines):
        lines.append(f"({total - len(lines)} more detections left out to keep this short)")
    text = "\n".join(head + lines)
    frames = key_frames(event) if settings.LLM_VISION else []
    if not frames:
        return [{"role": "system", "content": system}, {"role": "user", "content": text}]
    parts = [{"type": "text", "text": text}] + [{"type": "image_url", "image_url": {"url": url}} for url in frames]
    return [{"role": "system", "content": system}, {"role": "user", "content": parts}]


def key_frames(event: Event, limit: int = 4, side: int = 512) -> list[str]:
    """Up to `limit` annotated thumbnails (the most confident detections first), resized,
    as data URIs for a vision model."""
    urls, seen = [], set()
    for thumb in event.detections.order_by("-confidence").values_list("thumbnail", flat=True):
        if not thumb or thumb in seen or len(urls) >= limit:
            continue
        seen.add(thumb)
        image = cv2.imread(str(settings.MEDIA_ROOT / thumb))
        if image is None:
            continue
        scale = min(1.0, side / max(image.shape[:2]))
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
        data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
        urls.append("data:image/jpeg;base64," + base64.b64encode(data).decode())
    return urls


def _rules_fields(event: Event, facts: rules.Facts, started: float) -> dict:
    verdict = rules.assess(facts)
    labels = ", ".join(f"{n} {c}" for c, n in sorted(event.classes.items(), key=lambda kv: -kv[1]))
    return {
        "risk_score": verdict.score,
        "summary": f"{labels} seen by {event.camera.name}" + (" (still going on)" if event.status == "open" else ""),
        "reasoning": verdict.reasoning,
        "recommended_action": "Look at the snapshots." if verdict.score >= 60 else "No action needed.",
        "analyzer": "rules",
        "assessment_state": Event.Assessment.ASSESSED,
        "provenance": {
            "analyzer": "rules",
            "weights": rules.WEIGHTS,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    }


def event_assess(*, event_id: int) -> Event | None:
    event = Event.objects.select_related("camera").filter(pk=event_id).first()
    if event is None or not event.detection_count:
        return None
    started = time.perf_counter()
    facts = event_facts(event)
    if settings.LLM_PROVIDERS:
        system, version = active_prompt()
        messages = event_prompt(event, facts, system=system)
        try:
            answer = llm.analyze(messages)
            fields = {key: answer.fields[key] for key in ("risk_score", "summary", "reasoning", "recommended_action")}
            fields.update(
                analyzer="llm",
                assessment_state=Event.Assessment.ASSESSED,
                provenance={
                    **answer.provenance,
                    "risk_factors": answer.fields["risk_factors"],
                    "prompt_chars": sum(len(str(m["content"])) for m in messages),
                    "prompt_version": version,
                },
            )
        except llm.LlmError as exc:
            # No invented score: the rules assess, the event says so, and it is re-assessed later.
            fields = _rules_fields(event, facts, started)
            fields["assessment_state"] = Event.Assessment.FALLBACK
            fields["provenance"]["llm_error"] = str(exc)[:1000]
    else:
        fields = _rules_fields(event, facts, started)
    fields["risk_level"] = risk_level_for(fields["risk_score"])
    fields["assessed_at"] = timezone.now()
    # Each assessment gets the next number: the alert rules are checked once per number.
    Event.objects.filter(pk=event.pk).update(assessment_seq=F("assessment_seq") + 1, **fields)
    if settings.ASSESS_NEXT_STAGE:
        enqueue(settings.ASSESS_NEXT_STAGE, event.pk)
    payload = {
        "event": event.pk,
        "camera": event.camera_id,
        "risk_score": fields["risk_score"],
        "risk_level": fields["risk_level"],
        "analyzer": fields["analyzer"],
    }
    live_publish(stream="events", kind="event.assessed", payload=payload)
    for name, value in fields.items():
        setattr(event, name, value)
    return event


def reassess_fallbacks() -> int:
    """A clock job: events the rules assessed while the LLM was away are sent to it again
    (at most once a minute each; the breaker keeps a down LLM from being hammered)."""
    if not settings.LLM_PROVIDERS:
        return 0
    now = timezone.now()
    waiting = list(
        Event.objects.filter(assessment_state=Event.Assessment.FALLBACK)
        .filter(Q(assess_queued_at__isnull=True) | Q(assess_queued_at__lt=now - timedelta(minutes=1)))
        .values_list("pk", flat=True)[:20]
    )
    Event.objects.filter(pk__in=waiting).update(assess_queued_at=now)
    for pk in waiting:
        enqueue(ASSESS_TASK, pk, cluster="slow")
    return len(waiting)


def prompt_version_save(*, text: str, note: str = "") -> PromptVersion:
    """An edit is a new version (not active until someone activates it)."""
    last = PromptVersion.objects.order_by("-version").values_list("version", flat=True).first() or 0
    return PromptVersion.objects.create(version=last + 1, system_prompt=text, note=note)


def prompt_version_activate(*, prompt: PromptVersion) -> None:
    with transaction.atomic():
        PromptVersion.objects.filter(active=True).update(active=False)
        PromptVersion.objects.filter(pk=prompt.pk).update(active=True)


def prompt_version_roll_back() -> PromptVersion | None:
    """Activate the version before the active one."""
    active = PromptVersion.objects.filter(active=True).first()
    if active is None:
        return None
    previous = PromptVersion.objects.filter(version__lt=active.version).order_by("-version").first()
    if previous is not None:
        prompt_version_activate(prompt=previous)
    return previous


def prompt_replay_start(*, prompt: PromptVersion, event_ids: list[int]) -> PromptReplay:
    replay = PromptReplay.objects.create(prompt=prompt, event_ids=list(event_ids))
    enqueue("events.tasks.prompt_replay", replay.pk, cluster="slow")
    return replay


def prompt_replay_run(*, replay_id: int) -> PromptReplay | None:
    """Score each event with the replay's prompt; the events themselves are not changed."""
    replay = PromptReplay.objects.select_related("prompt").filter(pk=replay_id, status="pending").first()
    if replay is None:
        return None
    results = []
    for event in Event.objects.select_related("camera").filter(pk__in=replay.event_ids):
        row = {
            "event": event.pk,
            "camera": event.camera.name,
            "old_score": event.risk_score,
            "old_level": event.risk_level,
            "old_analyzer": event.analyzer,
        }
        try:
            answer = llm.analyze(event_prompt(event, event_facts(event), system=replay.prompt.system_prompt))
            row.update(new_score=answer.fields["risk_score"], new_level=risk_level_for(answer.fields["risk_score"]))
        except llm.LlmError as exc:
            row.update(new_score=None, new_level="", error=str(exc)[:300])
        results.append(row)
    PromptReplay.objects.filter(pk=replay.pk).update(status="done", results=results, finished_at=timezone.now())
    replay.refresh_from_db()
    return replay
