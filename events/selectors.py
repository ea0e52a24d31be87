"""Reads for events that pages, the API, the admin and other apps use (the alert rules
compare levels through these, never through a write module)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Case, OuterRef, Q, QuerySet, Subquery, When

from cameras.models import Ingest, Zone
from detections.models import CLASSES, Clip, Detection
from events.models import Event, PromptVersion, SeverityLevel

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


def prompt_version_newest() -> PromptVersion | None:
    return PromptVersion.objects.order_by("-version").first()


def event_ids_recently_assessed(*, limit: int = 50) -> list[int]:
    """The newest assessed events: what a new prompt version is tried on first."""
    return list(Event.objects.exclude(risk_score=None).order_by("-started_at").values_list("pk", flat=True)[:limit])


def camera_ids_assessed_since(*, since: datetime) -> set[str]:
    """Cameras with an event assessed after `since`."""
    return set(Event.objects.filter(assessed_at__gt=since).values_list("camera_id", flat=True))


def event_latest_assessed(*, camera_id: str) -> Event | None:
    """The camera's most recently assessed event: its current risk."""
    return Event.objects.filter(camera_id=camera_id).exclude(assessed_at=None).order_by("-assessed_at").first()


# --- The timeline (events/views.py): filters, keyset pages, one row ------------------------------

# The newest-first order, and the page's key: ties on started_at are broken by id.
TIMELINE_ORDER = ("-started_at", "-id")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LAST_ID = 2**62  # a jump to a moment takes everything up to and at it


@dataclass(frozen=True)
class TimelineQuery:
    """What the household filters the timeline by (events/forms.py makes it from the URL)."""

    camera: str = ""
    level: str = ""
    min_score: int | None = None
    max_score: int | None = None
    label: str = ""
    zone: str = ""
    since: datetime | None = None  # started at or after
    until: datetime | None = None  # started before
    reviewed: str = "unreviewed"  # "unreviewed", "reviewed" or "all"
    search: str = ""
    assessment: str = ""  # an Event.Assessment value: pending, done, ...
    late: bool | None = None  # made from a backlog of uploads


@dataclass(frozen=True)
class Cursor:
    """A position in the timeline: (started_at, id) of an event, as a token for the URL."""

    at: datetime
    pk: int

    @classmethod
    def of(cls, event: Event) -> Cursor:
        return cls(event.started_at, event.pk)

    @classmethod
    def parse(cls, token: str) -> Cursor | None:
        micros, _, pk = token.partition("_")
        try:
            at = EPOCH + timedelta(microseconds=int(micros))
            return cls(at, int(pk))
        except (ValueError, OverflowError):
            return None

    @property
    def token(self) -> str:
        return f"{(self.at - EPOCH) // timedelta(microseconds=1)}_{self.pk}"

    def before(self) -> Q:
        # The first condition alone bounds the index scan; the second breaks ties.
        return Q(started_at__lte=self.at) & (Q(started_at__lt=self.at) | Q(pk__lt=self.pk))

    def after(self) -> Q:
        return Q(started_at__gte=self.at) & (Q(started_at__gt=self.at) | Q(pk__gt=self.pk))


def classes_text(event: Event) -> str:
    """What the event saw, the most seen first: "person ×2, car"."""
    counts = sorted((event.classes or {}).items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{label} ×{n}" if n > 1 else label for label, n in counts)


class _Seen:
    """When an event was seen and the zone its times are shown in (its camera's)."""

    event: Event

    @property
    def when(self) -> datetime:
        """The capture time, else the arrival (shown in `zone`)."""
        return self.event.captured_from or self.event.started_at

    @property
    def zone(self) -> ZoneInfo:
        return self.event.camera.zoneinfo


@dataclass
class TimelineRow(_Seen):
    event: Event
    best: Detection | None  # the picture shown: the most confident detection's clean preview

    @property
    def key(self) -> str:
        """Its place in the timeline's order (the live page inserts rows by it)."""
        return Cursor.of(self.event).token

    @property
    def classes_text(self) -> str:
        return classes_text(self.event)


@dataclass
class TimelinePage:
    rows: list[TimelineRow]
    newer: Cursor | None  # the page above starts after this one (None: this is the newest page)
    older: Cursor | None  # the page below starts before this one (None: nothing older)

    @property
    def newest(self) -> bool:
        return self.newer is None

    @property
    def ids(self) -> list[int]:
        return [row.event.pk for row in self.rows]


def zone_filter(zone: str) -> Q:
    if connection.vendor == "postgresql":
        return Q(zones__contains=[zone])  # jsonb @>
    return Q(zones__icontains=json.dumps(zone))  # SQLite has no JSON containment: the name in quotes


def timeline_events(query: TimelineQuery, *, base: QuerySet[Event] | None = None) -> QuerySet[Event]:
    """The events the filters let through (of `base`, else all), in no order yet: the one
    definition the pages, the API's list and its export use."""
    events = Event.objects.all() if base is None else base
    if query.reviewed == "unreviewed":
        events = events.filter(reviewed=False)
    elif query.reviewed == "reviewed":
        events = events.filter(reviewed=True)
    if query.camera:
        events = events.filter(camera_id=query.camera)
    if query.level:
        events = events.filter(risk_level=query.level)
    if query.min_score is not None:
        events = events.filter(risk_score__gte=query.min_score)
    if query.max_score is not None:
        events = events.filter(risk_score__lte=query.max_score)
    if query.assessment:
        events = events.filter(assessment_state=query.assessment)
    if query.late is not None:
        events = events.filter(late=query.late)
    if query.label:
        events = events.filter(classes__has_key=query.label)
    if query.zone:
        events = events.filter(zone_filter(query.zone))
    if query.since:
        events = events.filter(started_at__gte=query.since)
    if query.until:
        events = events.filter(started_at__lt=query.until)
    if query.search:
        text = query.search
        events = events.filter(
            Q(summary__icontains=text) | Q(reasoning__icontains=text) | Q(review_notes__icontains=text)
        )
    return events


def timeline_rows(events: list[Event]) -> list[TimelineRow]:
    """Each event with its best picture: two queries, whatever the number of events."""
    if not events:
        return []
    pictures = Detection.objects.filter(events=OuterRef("pk")).exclude(preview="", thumbnail="")
    best = pictures.order_by(Case(When(preview="", then=1), default=0), "-confidence", "pk").values("pk")[:1]
    best_of = dict(
        Event.objects.filter(pk__in=[e.pk for e in events]).annotate(best=Subquery(best)).values_list("pk", "best")
    )
    detections = Detection.objects.only(
        "pk", "label", "confidence", "x", "y", "width", "height", "frame_width", "frame_height", "preview", "thumbnail"
    ).in_bulk([pk for pk in best_of.values() if pk])
    return [TimelineRow(event, detections.get(best_of.get(event.pk) or 0)) for event in events]


def _listed(events: QuerySet[Event]) -> QuerySet[Event]:
    # The long texts and the model's raw answer stay in the database: a row shows the summary.
    return events.select_related("camera").defer("reasoning", "recommended_action", "provenance", "review_notes")


def timeline_page(
    *,
    query: TimelineQuery,
    before: Cursor | None = None,
    after: Cursor | None = None,
    limit: int = 50,
) -> TimelinePage:
    """One page of the timeline, newest first, by keyset: the events just older than
    `before`, just newer than `after`, or the newest ones. No OFFSET and no COUNT, so a
    page deep in 100 k events costs what the first one does."""
    events = timeline_events(query)
    if after is not None:
        above = list(_listed(events.filter(after.after())).order_by("started_at", "id")[: limit + 1])
        if len(above) > limit:
            shown = above[:limit][::-1]
            return TimelinePage(timeline_rows(shown), newer=Cursor.of(shown[0]), older=Cursor.of(shown[-1]))
        before = None  # reached the top: the newest page
    if before is None:
        shown = list(_listed(events).order_by(*TIMELINE_ORDER)[: limit + 1])
        older = Cursor.of(shown[limit - 1]) if len(shown) > limit else None
        return TimelinePage(timeline_rows(shown[:limit]), newer=None, older=older)
    shown = list(_listed(events.filter(before.before())).order_by(*TIMELINE_ORDER)[: limit + 1])
    older = Cursor.of(shown[limit - 1]) if len(shown) > limit else None
    shown = shown[:limit]
    top = Cursor.of(shown[0]) if shown else before
    # Anything above this page? Then it links to it; else it is the newest page after all.
    newer = top if events.filter(top.after()).exists() else None
    return TimelinePage(timeline_rows(shown), newer=newer, older=older)


def timeline_row(*, event_id: int, query: TimelineQuery) -> tuple[TimelineRow | None, bool]:
    """One event as a timeline row (the live page inserts or refreshes it), and whether
    the page's filters let it through."""
    event = _listed(Event.objects.filter(pk=event_id)).first()
    if event is None:
        return None, False
    matches = timeline_events(query).filter(pk=event_id).exists()
    return timeline_rows([event])[0], matches


def timeline_choices() -> dict[str, list[str]]:
    """What the filters offer: levels (lowest first), classes and zone names in use."""
    zones = sorted(set(Zone.objects.exclude(kind=Zone.Kind.IGNORE).values_list("name", flat=True)))
    return {"levels": level_names(), "classes": list(CLASSES), "zones": zones}


# --- One event's page ------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneShape:
    """A camera zone drawn over a picture, in the picture's pixels (the SVG's viewBox)."""

    name: str
    kind: str
    points: str
    label_x: float
    label_y: float
    hit: bool  # one of the picture's detections stands in it


@dataclass(frozen=True)
class Box:
    detection: Detection
    label_y: float  # the label's baseline: above the box, or inside it at the frame's top edge


@dataclass
class Shot:
    """One picture of the event (a photo, or one sampled frame of a clip) with its boxes."""

    detections: list[Detection]
    ingest: Ingest
    zone_shapes: list[ZoneShape] = field(default_factory=list)

    @property
    def width(self) -> int:
        return self.first.frame_width

    @property
    def height(self) -> int:
        return self.first.frame_height

    @property
    def font(self) -> int:
        """Label size in frame pixels: about 2 % of the frame, whatever its resolution."""
        return max(10, round(max(self.width, self.height) * 0.022))

    @property
    def boxes(self) -> list[Box]:
        font = self.font
        return [Box(d, d.y - font * 0.35 if d.y > font * 1.3 else d.y + font * 1.05) for d in self.detections]

    def draw_zones(self, zones: list[Zone]) -> None:
        hit = self.zone_names()
        for zone in zones:
            points = [(float(x) * self.width, float(y) * self.height) for x, y in zone.polygon]
            if len(points) < 3:
                continue
            top = min(points, key=lambda p: (p[1], p[0]))
            self.zone_shapes.append(
                ZoneShape(
                    name=zone.name,
                    kind=zone.kind,
                    points=" ".join(f"{x:.1f},{y:.1f}" for x, y in points),
                    label_x=top[0],
                    label_y=top[1] + self.font * 1.1,
                    hit=zone.name in hit,
                )
            )

    @property
    def first(self) -> Detection:
        return self.detections[0]

    @property
    def clean(self) -> bool:
        """A clean preview to draw the boxes over; else the thumbnail with them drawn in."""
        return bool(self.first.preview)

    @property
    def offset(self) -> float | None:
        return self.first.frame_offset_s

    def zone_names(self) -> set[str]:
        return {name for d in self.detections for name in d.zones}


@dataclass
class EventPage(_Seen):
    event: Event
    shots: list[Shot]
    clips: list[tuple[Ingest, Clip | None]]

    @property
    def classes_text(self) -> str:
        return classes_text(self.event)

    @property
    def zones_seen(self) -> list[str]:
        return list(self.event.zones or [])

    @property
    def previous(self) -> Event | None:
        return self.event.previous

    @property
    def next(self) -> Event | None:
        return getattr(self.event, "continuation", None)


def event_get(*, event_id: int) -> Event | None:
    return Event.objects.filter(pk=event_id).first()


def event_page(*, event_id: int) -> EventPage | None:
    """Everything the event's page shows, in a fixed number of queries: the event with its
    camera, chain neighbours and reviewer; its detections with their uploads; its clips;
    the camera's zones."""
    event = (
        Event.objects.select_related("camera", "previous", "continuation", "reviewed_by").filter(pk=event_id).first()
    )
    if event is None:
        return None
    shots: dict[tuple[int, str], Shot] = {}
    for detection in event.detections.select_related("ingest").order_by("captured_at", "frame_offset_s", "pk"):
        key = (detection.ingest_id, detection.preview or detection.thumbnail or str(detection.frame_offset_s))
        if key in shots:
            shots[key].detections.append(detection)
        else:
            shots[key] = Shot([detection], detection.ingest)
    for shot in shots.values():
        shot.detections.sort(key=lambda d: -d.confidence)
    videos = {shot.ingest.pk: shot.ingest for shot in shots.values() if shot.ingest.media_type == "video"}
    copies = {clip.ingest_id: clip for clip in Clip.objects.filter(ingest_id__in=list(videos))}
    clips = [(ingest, copies.get(pk)) for pk, ingest in sorted(videos.items())]
    zones = list(Zone.objects.filter(camera_id=event.camera_id, enabled=True).exclude(kind=Zone.Kind.IGNORE))
    for shot in shots.values():
        shot.draw_zones(zones)
    return EventPage(event, list(shots.values()), clips)


def event_first_arrival(*, event_id: int) -> datetime | None:
    """When the event's first file arrived (its earliest ingest's arrival): where the
    pipeline's latency to the event's assessment, alert and notification is counted from."""
    from django.db.models import Min

    return Ingest.objects.filter(detections__events=event_id).aggregate(first=Min("arrived_at"))["first"]
