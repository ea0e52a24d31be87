"""Capture times from camera file names, EXIF and mtime, localised in the camera's zone. Django-free."""

from datetime import UTC, datetime, timedelta
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
        ("20260101171020.jpg", datetime(2026, 1, 1, 17, 10, 20)),
        ("20260101-171020.jpg", datetime(2026, 1, 1, 17, 10, 20)),
        ("2026-01-01_17-10-20.jpg", datetime(2026, 1, 1, 17, 10, 20)),
        ("00626E6F(Porch)_1_20260101171020_42.jpg", datetime(2026, 1, 1, 17, 10, 20)),
        ("2026-07-04_08-09-10.mp4", datetime(2026, 7, 4, 8, 9, 10)),
        ("record/2026-07-04 08:09:10.mkv", datetime(2026, 7, 4, 8, 9, 10)),
        ("MDAlarm_20261301-171020.jpg", None),  # month 13
        ("MDAlarm_20260230-101010.jpg", None),  # 30 February
        ("MDAlarm_20240229-101010.jpg", datetime(2024, 2, 29, 10, 10, 10)),  # a leap day is a date
        ("MDAlarm_20260229-101010.jpg", None),  # ... but not in 2026
        ("MDAlarm_20260101-251020.jpg", None),  # hour 25
        ("MDAlarm_20260101-176020.jpg", None),  # minute 60
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
    assert when.utcoffset() == timedelta(hours=1)  # shown in the camera's zone too


def test_a_time_in_the_spring_forward_gap_becomes_a_real_instant():
    gap, _ = capture_time(name="MDAlarm_20260329-023000.jpg", exif=None, mtime=0, tz=BERLIN)  # clocks jump 2->3
    assert gap.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # read with the winter offset
    assert (gap.hour, gap.minute, gap.utcoffset()) == (3, 30, timedelta(hours=2))  # shown as the wall time it was


def test_a_repeated_time_in_the_autumn_fold_is_its_first_occurrence():
    fold, _ = capture_time(name="MDAlarm_20261025-023000.jpg", exif=None, mtime=0, tz=BERLIN)  # 2:30 happens twice
    assert fold.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 02:30 (summer time)
    assert fold.utcoffset() == timedelta(hours=2)


def test_exif_times_are_localised_like_names():
    when, source = capture_time(name="x.jpg", exif=datetime(2026, 3, 29, 2, 30), mtime=0, tz=ZoneInfo("UTC"))
    assert (when, source) == (datetime(2026, 3, 29, 2, 30, tzinfo=UTC), "exif")
