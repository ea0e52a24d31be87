"""One corpus of events and the searches run on it, for tests/events/test_search.py: run in
the test's own process on PostgreSQL, and by `run_all()` in a child process on SQLite, so
that both databases answer the same searches on the same rows.

Each event's words are its summary, reasoning, review notes, camera name and class names."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cameras.models import Camera
from events import search
from events.models import Event
from events.search import event_search

AT = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)

CAMERAS = {
    "door": "Front Door",
    "drive": "Driveway",
    "garden": "Back Garden",
    "garage": "Garage (east)",
    "kueche": "Küche",
}

# name: camera, summary, reasoning, review notes, classes
EVENTS: dict[str, tuple[str, str, str, str, dict[str, int]]] = {
    "parcel": (
        "door",
        "A courier leaves a parcel on the step.",
        "Daytime delivery, person in the entry zone.",
        "",
        {"person": 2},
    ),
    "ladder": (
        "garden",
        "Someone carries a ladder across the lawn at night.",
        "Unknown person at 03:12; the ladder stood by the window.",
        "Called the police.",
        {"person": 1},
    ),
    "fox": ("garden", "A fox crosses the lawn (no people).", "Animal only, low risk.", "", {"cat": 1}),
    "car": (
        "drive",
        "A car pulls in and parks.",
        "Household vehicle, plate recognised.",
        "Neighbour’s car, checked.",
        {"car": 1},
    ),  # fmt: skip
    "bicycle": (
        "garage",
        "A teenager takes a bicycle.",
        "Person with a bicycle at the e-bike charger.",
        "",
        {"person": 1, "bicycle": 1},
    ),
    # Of about the same length, "knock" three times and once: the first ranks higher.
    "knock3": ("door", "Knock, knock, knock at the door.", "Visitor waits, then leaves.", "", {"person": 1}),
    "knock1": ("drive", "One knock at the gate, nobody came.", "Visitor left quickly, then drove.", "", {"person": 1}),
    "kitchen": ("kueche", "Die Katze läuft über den Tisch.", "Bewegung in der Küche, Haustier.", "", {"cat": 1}),
}

# The search, and the events it finds.
SEARCHES: list[tuple[str, set[str]]] = [
    ("ladder", {"ladder"}),
    ("person", {"parcel", "ladder", "bicycle", "knock3", "knock1"}),
    ("lawn night", {"ladder"}),
    ('"the lawn"', {"ladder", "fox"}),
    ('"lawn the"', set()),
    ("fox OR bicycle", {"fox", "bicycle"}),
    ("fox or bicycle", {"fox", "bicycle"}),
    ("person -knock", {"parcel", "ladder", "bicycle"}),
    ('visitor -"then leaves"', {"knock1"}),
    ("garden", {"ladder", "fox"}),  # the camera's name
    ('"front door"', {"parcel", "knock3"}),
    ("cat", {"fox", "kitchen"}),  # a class name
    ('"person bicycle"', {"bicycle"}),  # class names in one order on both databases
    ("police", {"ladder"}),  # review notes
    ("parcel", {"parcel"}),
    ("courier ladder", set()),  # each word is in another event
    ("LaDdEr", {"ladder"}),
    ("KÜCHE", {"kitchen"}),
    ("über", {"kitchen"}),
    ("uber", set()),  # accents count
    ("neighbour’s", {"car"}),
    ("neighbour's", {"car"}),
    ("03:12", {"ladder"}),
    ("e-bike", {"bicycle"}),
    ("ladder!!!", {"ladder"}),
    ("(fox)", {"fox"}),
    ("drive", set()),  # no prefixes, no stems: not "driveway", not "drove"
    ("teenager bicycle OR fox", {"bicycle", "fox"}),
    ("fox bicycle OR teenager", {"bicycle"}),  # AND binds tighter than OR
    ("-person", {"fox", "car", "kitchen"}),
    ("knock OR -person", {"knock3", "knock1", "fox", "car", "kitchen"}),
    ("fox or or", {"fox"}),
    ("OR", set()),  # the word "or"
]

# Searches that must never be a database error: found events, or a ValueError to show.
BAD_INPUTS = [
    '"unbalanced',
    'ladder "',
    "-",
    "---",
    "- -",
    "!!!",
    "...",
    "or or",
    '-"',
    '""',
    '"" -',
    "\x00",
    "lad\x00der",
    "ladder " * 40,
    " " * 300,
    "a " * 128,
    "x" * 256,
    "NEAR(ladder lawn)",
    "ladder AND lawn",
    "ladder NOT lawn",
    "summary:ladder",
    "body:ladder",
    "ladder*",
    "^ladder",
    "{ladder lawn}",
    "ladder + lawn",
    "'",
    "\\",
    "%",
    "%s %(x)s",
    "_",
    "'; DROP TABLE events_event; --",
    "ladder & !lawn | fox",
    "fox:*",
    "²",
    "🦊",
]


def build() -> dict[str, int]:
    """The corpus; returns the events' ids by name."""
    for pk, name in CAMERAS.items():
        Camera.objects.create(id=pk, name=name, folder=pk)
    ids = {}
    for n, (name, (camera, summary, reasoning, notes, classes)) in enumerate(EVENTS.items()):
        at = AT + timedelta(minutes=n)
        event = Event.objects.create(
            camera_id=camera,
            started_at=at,
            last_detection_at=at,
            chain_started_at=at,
            status="closed",
            summary=summary,
            reasoning=reasoning,
            review_notes=notes,
            classes=classes,
        )
        ids[name] = event.pk
    return ids


def found(q: str, ids: dict[str, int], **kwargs) -> list[str]:
    """The names of the events `q` finds, best first."""
    names = {pk: name for name, pk in ids.items()}
    return [names[event.pk] for event in event_search(q=q, **kwargs)]


def outcome(q: str, ids: dict[str, int]) -> str:
    try:
        return "found " + " ".join(sorted(found(q, ids)))
    except ValueError as error:
        return f"refused: {error}"


def change(ids: dict[str, int]) -> None:
    """Every way an event's words change: a save(), update()s of each text column, a
    renamed camera, an event moved to another camera, an event deleted."""
    fox = Event.objects.get(pk=ids["fox"])
    fox.summary = "A badger digs under the fence (no people)."
    fox.save()
    Event.objects.filter(pk=ids["knock1"]).update(review_notes="Checked by Anna.")
    Event.objects.filter(pk=ids["ladder"]).update(reasoning="Unknown person near the shed.")
    Event.objects.filter(pk=ids["car"]).update(classes={"car": 1, "dog": 1})
    Event.objects.filter(pk=ids["bicycle"]).update(camera_id="door")
    Camera.objects.filter(pk="garden").update(name="Orchard")
    Event.objects.filter(pk=ids["parcel"]).delete()


AFTER_CHANGE: list[tuple[str, set[str]]] = [
    ("fox", set()),
    ("badger", {"fox"}),
    ("anna", {"knock1"}),
    ("window", set()),
    ("shed", {"ladder"}),
    ("dog", {"car"}),
    ("east", set()),
    ('"front door"', {"knock3", "bicycle"}),
    ("garden", set()),
    ("orchard", {"ladder", "fox"}),
    ("courier", set()),
]


def newest_ranked(ids: dict[str, int]) -> list[str]:
    """`person` with only its two newest matches ranked: which two (RANK_NEWEST cut alike)."""
    kept, search.RANK_NEWEST = search.RANK_NEWEST, 2
    try:
        return sorted(found("person", ids))
    finally:
        search.RANK_NEWEST = kept


def run_all() -> dict:
    """Every search, before and after the changes: what the two databases must agree on."""
    ids = build()
    report = {
        "searches": {q: outcome(q, ids) for q, _ in SEARCHES},
        "bad inputs": {q: outcome(q, ids) for q in BAD_INPUTS},
        "ranked": found("knock", ids),
        "narrowed": sorted(found("person", ids, events=Event.objects.filter(camera_id="door"))),
        "limited": len(found("person", ids, limit=2)),
        "newest ranked": newest_ranked(ids),
    }
    change(ids)
    report["after change"] = {q: outcome(q, ids) for q, _ in AFTER_CHANGE}
    return report


def main() -> None:
    """For the SQLite child process: the report as JSON, on the last line."""
    print("\n" + json.dumps(run_all(), sort_keys=True))
