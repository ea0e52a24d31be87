"""Assessing events: facts from the database, a verdict from an analyzer, stored with its
provenance. The level always comes from the severity table when a score is written."""

from __future__ import annotations

import base64
import logging
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from cameras.models import Camera
from events.analyzers import llm, rules
from events.models import ActivityCount, Event, PromptReplay, PromptVersion
from events.selectors import event_first_arrival, risk_level_for
from homesec.core.audit import audit, audit_saved, audit_target
from homesec.core.breaker import BreakerPolicy, breaker_lets_through
from homesec.core.durable import worker_died
from homesec.core.live import live_publish
from homesec.core.retry import MAX_TRIES
from homesec.core.tasks import enqueue
from monitoring.metrics import MetricBatch

ASSESS_TASK = "events.tasks.assessment_rules_due"  # the alert lane: the rules, now
ASSESS_LLM_TASK = "events.tasks.assessment_llm_run"  # the slow lane: the language model
logger = logging.getLogger(__name__)


def hour_of_week(moment: datetime, tz: ZoneInfo) -> int:
    local = moment.astimezone(tz)
    return local.weekday() * 24 + local.hour


def activity_count_add(*, camera: Camera, moment: datetime) -> None:
    """Count one event at this hour of the week for the camera (its usual activity)."""
    how = hour_of_week(moment, camera.zoneinfo)
    row, _ = ActivityCount.objects.get_or_create(camera=camera, hour_of_week=how)
    ActivityCount.objects.filter(pk=row.pk).update(count=F("count") + 1)


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
    import cv2  # here: the web imports this module (the admin) but never sends frames

    urls: list[str] = []
    seen: set[str] = set()
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


# --- Running assessments ---------------------------------------------------------------------
# The event row carries the assessment's work (assess_step, _wanted_at, _deadline_at ...):
# one assessment in flight per event; asking while one waits or runs only makes sure one
# more follows it. The main assessor is the language model on the slow lane when one is
# configured, else the rules on the alert lane. With a model, a request on the alert path
# (the fast path, a close) also sets a deadline: when the model has not answered by then
# (HOMESEC_FAST_PATH_LLM_BUDGET_S), or is down, the rules assess on the alert lane and are
# alerted on, and the model's answer, when it comes, assesses again.


def llm_reachable() -> bool:
    """Would a call to some language model go through now (its breaker closed, or due for a probe)?"""
    policy = BreakerPolicy(cooldown_s=settings.LLM_COOLDOWN_S)
    return any(breaker_lets_through(f"llm:{provider.url}", policy) for provider in llm.providers())


def _main_task() -> str:
    return ASSESS_LLM_TASK if settings.LLM_PROVIDERS else ASSESS_TASK


def _budget() -> timedelta:
    return timedelta(seconds=settings.FAST_PATH_LLM_BUDGET_S)


def assessment_request(*, event_id: int, now: datetime | None = None, alert: bool = True) -> None:
    """Ask for the event to be assessed (again). `alert`: the answer is due within the
    budget (the fast path, a close), not only eventually (a fallback sent back)."""
    now = now or timezone.now()
    changes = {"assess_wanted_at": Coalesce(F("assess_wanted_at"), Value(now))}
    if alert and settings.LLM_PROVIDERS:
        # A model that is down is not waited for: the rules are due at once.
        due = now + _budget() if llm_reachable() else now
        changes["assess_deadline_at"] = Coalesce(F("assess_deadline_at"), Value(due))
    Event.objects.filter(pk=event_id).update(**changes)
    if Event.objects.filter(pk=event_id, assess_step=Event.Step.IDLE).update(
        assess_step=Event.Step.QUEUED, assess_queued_at=now
    ):
        enqueue(_main_task(), event_id)


def assessment_rules_due(*, event_id: int, now: datetime | None = None) -> Event | None:
    """The alert lane's task. Without a language model: the assessment itself. With one:
    the rules step in for an alert the model has not answered in time (or cannot), stored
    as a fallback that the model's answer replaces."""
    now = now or timezone.now()
    if not settings.LLM_PROVIDERS:
        return _assess_claimed(event_id, now, claim_from=(Event.Step.QUEUED,))
    with transaction.atomic():
        event = Event.objects.select_for_update().select_related("camera").filter(pk=event_id).first()
        if event is None or event.assess_deadline_at is None or not event.detection_count:
            return None  # answered in time, or nothing to assess
        if llm_reachable():
            why = f"the language model had not answered within {settings.FAST_PATH_LLM_BUDGET_S:g} s"
        else:
            why = "the language model is unavailable (its circuit breaker is open)"
        fields = _rules_fields(event, event_facts(event), time.perf_counter())
        fields["assessment_state"] = Event.Assessment.FALLBACK
        fields["provenance"]["llm_error"] = f"{why}: the rules assessed, and its answer will assess the event again"
        Event.objects.filter(pk=event.pk).update(assess_deadline_at=None)
        return _store(event, fields, final=event.status == Event.Status.CLOSED, now=now)


def assessment_llm_run(*, event_id: int, now: datetime | None = None) -> Event | None:
    """The slow lane's task: the language model's assessment (the rules' when it fails)."""
    return _assess_claimed(event_id, now or timezone.now(), claim_from=(Event.Step.QUEUED,))


def event_assess(*, event_id: int) -> Event | None:
    """Assess the event now, in this process (`manage.py reassess`): the main assessor,
    under the same claim as the tasks, so never beside a running one. None when one runs
    already or nothing was stored."""
    return _assess_claimed(event_id, timezone.now(), claim_from=(Event.Step.IDLE, Event.Step.QUEUED))


def _assess_claimed(event_id: int, now: datetime, *, claim_from: tuple[str, ...]) -> Event | None:
    if not Event.objects.filter(pk=event_id, assess_step__in=claim_from).update(
        assess_step=Event.Step.RUNNING, assess_claimed_at=now, assess_wanted_at=None
    ):
        return None  # running already (a duplicate message), or not asked for
    event = Event.objects.select_related("camera").get(pk=event_id)
    final = event.status == Event.Status.CLOSED  # what the facts below are about
    fields = _verdict(event) if event.detection_count else None
    with transaction.atomic():
        locked = Event.objects.select_for_update().select_related("camera").get(pk=event_id)
        if locked.assess_claimed_at != now:
            return None  # given up on as dead meanwhile, and taken again
        stored = _store(locked, fields, final=final, now=now) if fields else None
        # Answered: the deadline covers only what was asked after the facts were read.
        wanted = locked.assess_wanted_at
        Event.objects.filter(pk=event_id).update(
            assess_deadline_at=wanted + _budget() if wanted and locked.assess_deadline_at else None,
            assess_attempts=0,
        )
        _release(event_id, wanted=wanted)
    return stored


def _release(event_id: int, *, wanted: datetime | None) -> None:
    """The assessment is done; asked for again meanwhile, one more follows."""
    step = Event.Step.QUEUED if wanted else Event.Step.IDLE
    Event.objects.filter(pk=event_id).update(assess_step=step, assess_claimed_at=None, assess_queued_at=timezone.now())
    if wanted:
        enqueue(_main_task(), event_id)


def _verdict(event: Event) -> dict:
    started = time.perf_counter()
    facts = event_facts(event)
    if not settings.LLM_PROVIDERS:
        return _rules_fields(event, facts, started)
    system, version = active_prompt()
    messages = event_prompt(event, facts, system=system)
    try:
        answer = llm.analyze(messages)
    except llm.LlmError as exc:
        # No invented score: the rules assess, the event says so, and it is re-assessed later.
        fields = _rules_fields(event, facts, started)
        fields["assessment_state"] = Event.Assessment.FALLBACK
        fields["provenance"]["llm_error"] = str(exc)[:1000]
        return fields
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
    return fields


def _store(event: Event, fields: dict, *, final: bool, now: datetime) -> Event | None:
    """Write an assessment onto the (locked) event row, numbered, and hand it to the alert
    rules. None when nothing was written: an answer about the open event after the closed
    event's verdict, or the same fallback again (no new check, no live message)."""
    if event.assessment_final and not final:
        return None
    same_fallback = (
        fields["assessment_state"] == Event.Assessment.FALLBACK
        and event.assessment_state == Event.Assessment.FALLBACK
        and event.risk_score == fields["risk_score"]
    )
    if same_fallback:
        if final and not event.assessment_final:
            Event.objects.filter(pk=event.pk).update(assessment_final=True)
        return None
    fields = {
        **fields,
        "risk_level": risk_level_for(fields["risk_score"]),
        "assessed_at": now,
        "assessment_final": final,
    }
    # Each assessment gets the next number: the alert rules are checked once per number.
    Event.objects.filter(pk=event.pk).update(assessment_seq=F("assessment_seq") + 1, **fields)
    _count(event, fields)
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
    event.assessment_seq += 1
    return event


def _count(event: Event, fields: dict) -> None:
    """Every stored assessment by level and analyzer; the event's first also its time from
    its first file's arrival (the event row is locked: counted once)."""
    batch = MetricBatch()
    batch.inc("homesec_assessments_total", {"level": fields["risk_level"], "analyzer": fields["analyzer"]})
    if not event.assessment_seq:
        batch.stage_reached("assessed", event_first_arrival(event_id=event.pk))
    batch.write()


def assessment_deadlines_due(*, now: datetime | None = None) -> list[int]:
    """A fast clock job: alerts whose language model has not answered within its budget
    go to the rules on the alert lane. Sent again only if that task is lost."""
    if not settings.LLM_PROVIDERS:
        # Deadlines are set only with a model (and its own answer clears them): nothing to
        # look for, five times a second.
        return []
    now = now or timezone.now()
    due = list(Event.objects.filter(assess_deadline_at__lte=now).values_list("pk", "assess_deadline_at")[:100])
    sent = []
    for pk, deadline in due:
        resend_at = now + timedelta(seconds=settings.ALERT_STALE_S)
        if Event.objects.filter(pk=pk, assess_deadline_at=deadline).update(assess_deadline_at=resend_at):
            enqueue(ASSESS_TASK, pk)
            sent.append(pk)
    return sent


def assessment_sweep(*, now: datetime | None = None) -> int:
    """A clock job's part: send again what a lost message left waiting, take back what a dead
    worker held (a try each; past the limit the rules assess), and ask again for a closed
    event's own assessment when it never came."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.SLOW_STALE_S if settings.LLM_PROVIDERS else settings.ALERT_STALE_S)
    sent = 0
    for event in Event.objects.filter(assess_step=Event.Step.RUNNING, assess_claimed_at__lt=stale)[:100]:
        sent += _take_back(event, now)
    waiting = Event.objects.filter(assess_step=Event.Step.QUEUED, assess_queued_at__lt=stale)
    for pk in waiting.values_list("pk", flat=True)[:500]:
        if Event.objects.filter(pk=pk, assess_step=Event.Step.QUEUED).update(assess_queued_at=now):
            enqueue(_main_task(), pk)
            sent += 1
    lost = Event.objects.filter(
        status=Event.Status.CLOSED,
        assessment_final=False,
        assess_step=Event.Step.IDLE,
        detection_count__gt=0,
        ended_at__lt=now - timedelta(seconds=settings.INGEST_STALE_S),
    )
    for pk in lost.values_list("pk", flat=True)[:500]:
        assessment_request(event_id=pk, now=now)
        sent += 1
    return sent


def _take_back(event: Event, now: datetime) -> int:
    """Its worker died holding the assessment: one try used; past the limit, given up on
    (with a model configured the rules assess, so an alert is never held back by it)."""
    tries = event.assess_attempts + 1
    taken = Event.objects.filter(pk=event.pk, assess_claimed_at=event.assess_claimed_at)
    if tries <= MAX_TRIES:
        if taken.update(
            assess_step=Event.Step.QUEUED, assess_attempts=tries, assess_claimed_at=None, assess_queued_at=now
        ):
            enqueue(_main_task(), event.pk)
            return 1
        return 0
    with transaction.atomic():
        if not taken.update(assess_step=Event.Step.IDLE, assess_attempts=0, assess_claimed_at=None):
            return 0
        locked = Event.objects.select_for_update().select_related("camera").get(pk=event.pk)
        if locked.detection_count:
            fields = _rules_fields(locked, event_facts(locked), time.perf_counter())
            if settings.LLM_PROVIDERS:
                fields["assessment_state"] = Event.Assessment.FALLBACK
                fields["provenance"]["llm_error"] = worker_died(tries)
            _store(locked, fields, final=locked.status == Event.Status.CLOSED, now=now)
        Event.objects.filter(pk=event.pk).update(assess_deadline_at=None)
    logger.error(
        "assessment of event %s: %s", event.pk, worker_died(tries), extra={"event": event.pk, "camera": event.camera_id}
    )
    return 0


def reassess_fallbacks(*, now: datetime | None = None) -> int:
    """A clock job: events the rules assessed while the language model was away go back to
    it, once its breaker lets calls through again; those that ended within
    HOMESEC_REASSESS_MAX_AGE_H, newest first, at most HOMESEC_REASSESS_PER_MIN a minute,
    each at most once a minute."""
    if not settings.LLM_PROVIDERS or not llm_reachable():
        return 0
    now = now or timezone.now()
    minute_ago = now - timedelta(minutes=1)
    room = settings.REASSESS_PER_MIN - Event.objects.filter(reassessed_at__gte=minute_ago).count()
    if room <= 0:
        return 0
    waiting = list(
        Event.objects.filter(
            assessment_state=Event.Assessment.FALLBACK,
            assess_step=Event.Step.IDLE,
            last_detection_at__gte=now - timedelta(hours=settings.REASSESS_MAX_AGE_H),
        )
        .filter(Q(reassessed_at__isnull=True) | Q(reassessed_at__lt=minute_ago))
        .order_by("-last_detection_at")
        .values_list("pk", flat=True)[:room]
    )
    for pk in waiting:
        Event.objects.filter(pk=pk).update(reassessed_at=now)
        assessment_request(event_id=pk, now=now, alert=False)
    return len(waiting)


def prompt_version_save(*, text: str, note: str = "") -> PromptVersion:
    """An edit is a new version (not active until someone activates it)."""
    last = PromptVersion.objects.order_by("-version").values_list("version", flat=True).first() or 0
    with transaction.atomic():
        prompt = PromptVersion.objects.create(version=last + 1, system_prompt=text, note=note)
        audit_saved(prompt, None)
    return prompt


def prompt_version_activate(*, prompt: PromptVersion) -> None:
    with transaction.atomic():
        PromptVersion.objects.filter(active=True).update(active=False)
        PromptVersion.objects.filter(pk=prompt.pk).update(active=True)
        audit(action="promptversion.activate", target=audit_target(prompt), detail={"version": prompt.version})


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
    with transaction.atomic():
        replay = PromptReplay.objects.create(prompt=prompt, event_ids=list(event_ids))
        audit(action="promptversion.replay", target=audit_target(prompt), detail={"events": len(replay.event_ids)})
        enqueue("events.tasks.prompt_replay_run", replay.pk)
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
