"""What homesec keeps (the database, the secret key, media) is its own user's alone: 0600 files
in 0700 folders, for new installs and, fixed at start, for existing ones. The camera root is
the operator's: another user (an FTP server, a NAS) may write there."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.processes import process_env

# The tests' own process already runs homesec's settings (and so its umask); a start by the
# operator comes with a usual umask.
OPERATOR_UMASK = 0o022

# In a homesec process: write a thumbnail the way detection does, open the database (SQLite
# makes its -wal and -shm files then) and report the modes of the database's files.
WRITE_AND_REPORT = """
import json, numpy
from django.conf import settings
from detections.thumbnails import write_thumbnail
from homesec.core.models import Heartbeat

write_thumbnail(numpy.zeros((48, 64, 3), numpy.uint8), [], settings.MEDIA_ROOT / "thumbs" / "a.jpg")
Heartbeat.objects.count()
print(json.dumps({p.name: p.stat().st_mode & 0o777 for p in settings.DATA_DIR.glob("homesec.sqlite3*")}))
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def manage(*args: str, env: dict[str, str]) -> str:
    return processes.manage(*args, env=env, timeout=120, umask=OPERATOR_UMASK)


def install_env(data: Path, **extra: str) -> dict[str, str]:
    # No HOMESEC_SECRET_KEY, so homesec keeps its generated key in the data folder.
    return process_env(
        data, DATABASE_URL=f"sqlite:///{data / 'homesec.sqlite3'}", HOMESEC_SECRET_KEY="<unset>", **extra
    )


def test_a_new_install_keeps_its_database_key_and_media_to_its_own_user(tmp_path):
    data = tmp_path / "var"
    env = install_env(data)
    manage("migrate", "--noinput", env=env)
    database_files = json.loads(manage("shell", "-c", WRITE_AND_REPORT, env=env).strip().splitlines()[-1])

    assert mode(data) == 0o700
    assert mode(data / "secret_key") == 0o600
    assert set(database_files) >= {"homesec.sqlite3", "homesec.sqlite3-wal", "homesec.sqlite3-shm"}
    assert set(database_files.values()) == {0o600}
    assert mode(data / "media") == 0o700
    assert mode(data / "media" / "thumbs") == 0o700
    assert mode(data / "media" / "thumbs" / "a.jpg") == 0o600
    # The camera root that homesec made is the operator's, as their umask says.
    assert mode(data / "cameras") == 0o755


@pytest.mark.parametrize("media_inside", [True, False], ids=["media-in-data-dir", "media-elsewhere"])
def test_an_existing_install_is_made_private_at_start_and_its_camera_root_is_left_alone(tmp_path, media_inside):
    data = tmp_path / "var"
    media = data / "media" if media_inside else tmp_path / "media"
    cameras = data / "cameras"
    for folder in (data, media / "thumbs" / "2026", cameras / "front" / "snap"):
        folder.mkdir(parents=True, exist_ok=True)
    for folder in (data, media, media / "thumbs", media / "thumbs" / "2026"):
        folder.chmod(0o755)
    for folder in (cameras, cameras / "front", cameras / "front" / "snap"):
        folder.chmod(0o775)
    files = {
        data / "secret_key": 0o644,
        data / "homesec.sqlite3": 0o644,
        data / "homesec.sqlite3-wal": 0o644,
        data / "homesec.sqlite3-shm": 0o644,
        media / "thumbs" / "2026" / "a.jpg": 0o644,
        cameras / "front" / "snap" / "MDAlarm_20260101-171020.jpg": 0o664,
    }
    for path, file_mode in files.items():
        path.write_text("x" * 40)
        path.chmod(file_mode)

    manage("check", env=install_env(data, HOMESEC_MEDIA_ROOT=str(media)))

    assert mode(data) == 0o700
    for name in ("secret_key", "homesec.sqlite3", "homesec.sqlite3-wal", "homesec.sqlite3-shm"):
        assert mode(data / name) == 0o600, name
    for folder in (media, media / "thumbs", media / "thumbs" / "2026"):
        assert mode(folder) == 0o700, folder
    assert mode(media / "thumbs" / "2026" / "a.jpg") == 0o600
    for folder in (cameras, cameras / "front", cameras / "front" / "snap"):
        assert mode(folder) == 0o775, folder
    assert mode(cameras / "front" / "snap" / "MDAlarm_20260101-171020.jpg") == 0o664
