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
    for pattern in _PATTERNS:
        for match in pattern.finditer(name):
            try:
                return datetime(*(int(part) for part in match.groups()))
            except ValueError:
                continue  # 20261399... is not a date; look further
    return None


def capture_time(*, name: str, exif: datetime | None, mtime: float, tz: ZoneInfo) -> tuple[datetime, str]:
    """An aware capture time and where it came from: "name", "exif" or "mtime".

    Camera clocks write local wall time, so names and EXIF are read in the camera's zone.
    In a DST gap or fold, Python's fold=0 picks the earlier reading, which is as good a
    guess as any for a camera that does not say.
    """
    from_name = capture_time_from_name(name)
    if from_name is not None:
        return from_name.replace(tzinfo=tz), "name"
    if exif is not None:
        return exif.replace(tzinfo=tz), "exif"
    return datetime.fromtimestamp(mtime, tz=UTC), "mtime"
