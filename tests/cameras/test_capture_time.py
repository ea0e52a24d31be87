from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from cameras.capture_time import capture_time, capture_time_from_name

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("MDAlarm_20260101-171020.jpg", datetime(2026, 1, 1, 17, 10, 20)),
        ("HMDAlarm_20260101-171020.jpg", datetime(2026, 1, 1, 17, 10, 20)),
        ("MDalarm_20260101_171020.jpg", datetime(2026, 1, 1, 17, 10, 20)),
        ("snap_20261231235959.jpg", datetime(2026, 12, 31, 23, 59, 59)),
        ("2026-07-04_08-09-10.mp4", datetime(2026, 7, 4, 8, 9, 10)),
        ("record/2026-07-04 08:09:10.mkv", datetime(2026, 7, 4, 8, 9, 10)),
        ("MDAlarm_20261301-171020.jpg", None),  # month 13
        ("MDAlarm_20260230-101010.jpg", None),  # 30 February
        ("IMG_1234.jpg", None),
        ("cam1_12345678901234567.jpg", None),  # digits, but no date
        ("x_20260101-171020_20260102-000000.jpg", datetime(2026, 1, 1, 17, 10, 20)),  # the first wins
    ],
)
def test_capture_times_are_read_from_camera_file_names(name, expected):
    assert capture_time_from_name(name) == expected


def test_name_beats_exif_beats_mtime_and_local_times_use_the_camera_zone():
    exif = datetime(2026, 6, 1, 12, 0, 0)
    when, source = capture_time(name="MDAlarm_20260101-171020.jpg", exif=exif, mtime=0, tz=BERLIN)
    assert (when.astimezone(UTC), source) == (datetime(2026, 1, 1, 16, 10, 20, tzinfo=UTC), "name")
    when, source = capture_time(name="IMG_1.jpg", exif=exif, mtime=0, tz=BERLIN)
    assert (when.astimezone(UTC), source) == (datetime(2026, 6, 1, 10, 0, 0, tzinfo=UTC), "exif")  # summer time
    when, source = capture_time(name="IMG_1.jpg", exif=None, mtime=1_767_225_600, tz=BERLIN)
    assert (when, source) == (datetime(2026, 1, 1, tzinfo=UTC), "mtime")


def test_times_in_a_dst_gap_or_fold_still_get_an_offset():
    gap, _ = capture_time(name="MDAlarm_20260329-023000.jpg", exif=None, mtime=0, tz=BERLIN)  # clocks jump 2->3
    fold, _ = capture_time(name="MDAlarm_20261025-023000.jpg", exif=None, mtime=0, tz=BERLIN)  # 2:30 happens twice
    assert gap.utcoffset() is not None and fold.utcoffset() is not None
    assert fold.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 02:30 (summer time)
