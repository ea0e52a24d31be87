"""When was a picture taken? From the camera's file name, else EXIF, else the file's mtime."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

# Foscam: MDAlarm_20260101-171020.jpg, HMDAlarm_20260101-171020.jpg; many others put a
# compact or separated date-time in the name. Separators may be -, _, . or nothing.
_PATTERNS = (
    re.compile(r"(?<!\d)(20\d{2})(\d{2})(\d{2})[-_.T ]?(\d{2})(\d{2})(\d{2})(?!\d)"),
    re.compile(r"(?<!\d)(20\d{2})-(\d{2})-(\d{2})[-_.T ](\d{2})[-_.:](\d{2})[-_.:](\d{2})(?!\d)"),
)


def capture_time_from_name(name: str) -> datetime | None:
    """The first valid date-time in a file name, naive (camera wall time); None if there is none."""
    for pattern in _PATTERNS:
        for match in pattern.finditer(name):
            try:
                year, month, day, hour, minute, second = (int(part) for part in match.groups())
                return datetime(year, month, day, hour, minute, second)
            except ValueError:
                continue  # 20261399... is not a date; look further
    return None


def capture_time(*, name: str, exif: datetime | None, mtime: float, tz: ZoneInfo) -> tuple[datetime, str]:
    """An aware capture time and where it came from: "name", "exif" or "mtime".

    Camera clocks write local wall time, so names and EXIF are read in the camera's zone.
    An ambiguous time (the repeated hour when DST ends) is taken as its first occurrence
    (fold=0), as good a guess as any for a camera that does not say; a time that never
    existed (the skipped hour) is read with the offset before the change and normalised,
    so 02:30 in a spring-forward gap comes back as 03:30 summer time, a real instant.
    mtime is a UTC epoch, shown in the camera's zone like the others.
    """
    from_name = capture_time_from_name(name)
    if from_name is not None:
        return _localise(from_name, tz), "name"
    if exif is not None:
        return _localise(exif, tz), "exif"
    return datetime.fromtimestamp(mtime, tz=UTC).astimezone(tz), "mtime"


def _localise(naive: datetime, tz: ZoneInfo) -> datetime:
    # The round trip through UTC turns a wall time inside a DST gap into one that exists.
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC).astimezone(tz)
