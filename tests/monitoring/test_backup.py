"""Backups taken while homesec runs, restored into a fresh install: every file a restored
row names is there with its checksum, the counts are the manifest's, and a restore never
writes over an install that holds anything."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.cameras.corpus import jpeg_bytes
from tests.support.fake_detector import FakeDetector
from tests.support.processes import (
    REPO,
    database_url_for_tests,
    manage,
    pipeline_env,
    process_env,
    start_daphne,
    start_manage,
    wait_answers,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manage_fails(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, str(REPO / "manage.py"), *args], env=env, capture_output=True, text=True)
    assert done.returncode != 0, done.stdout
    return done.stderr


def check_restored(rows, data_dir: Path, manifest: dict) -> None:
    """rows: (ingest paths with sha256, detection media, clip copies, events, detections) read
    from the restored database."""
    uploads, media, events, detections = rows
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert manifest["missing"] == []  # nothing was deleted while the backup ran
    for path, recorded in uploads:
        restored = data_dir / "cameras" / path
        assert restored.is_file(), path
        # Hashed by the ingest stage, or (still pending) by the backup itself.
        assert sha256(restored) == (recorded or listed[f"cameras/{path}"]["sha256"])
        assert restored.stat().st_mtime_ns == listed[f"cameras/{path}"]["mtime_ns"]
    assert media
    for name in media:
        assert sha256(data_dir / "media" / name) == listed[f"media/{name}"]["sha256"]
    assert (events, detections) == (manifest["counts"]["events"], manifest["counts"]["detections"])


READ_ROWS = [
    "SELECT path, sha256 FROM cameras_ingest WHERE status <> 'deleted'",
    "SELECT thumbnail FROM detections_detection UNION SELECT preview FROM detections_detection "
    "UNION SELECT playable FROM detections_clip WHERE playable <> ''",
    "SELECT COUNT(*) FROM events_event",
    "SELECT COUNT(*) FROM detections_detection",
]


@contextmanager
def fresh_database():
    """A new, empty PostgreSQL database beside the test database; its URL."""
    name = f"restore_{uuid.uuid4().hex[:8]}"
    admin_url = database_url_for_tests()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def read_rows(cursor) -> tuple:
    results = []
    for query in READ_ROWS:
        cursor.execute(query)
        results.append(cursor.fetchall())
    return results[0], {name for (name,) in results[1] if name}, results[2][0][0], results[3][0][0]


def test_a_backup_during_a_burst_of_uploads_restores_every_file_its_rows_name(tmp_path, spawn):
    server = FakeDetector().start()
    try:
        env, root = pipeline_env(tmp_path, HOMESEC_DETECTOR="http", HOMESEC_DETECTOR_URL=server.url)
        start_manage(spawn, env, ["watch_cameras"], ["worker"])
        (root / "porch").mkdir()
        for n in range(5):
            (root / "porch" / f"before-{n}.jpg").write_bytes(jpeg_bytes(seed=n))
        from detections.models import Detection

        wait_for(lambda: Detection.objects.count() >= 5, timeout=60, what="detections of the first photos")

        # Uploads keep arriving (and being detected) for as long as the backup runs.
        backup = subprocess.Popen(
            [sys.executable, str(REPO / "manage.py"), "backup", str(tmp_path / "backup"), "--no-progress"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        during = 0
        while backup.poll() is None:
            (root / "porch" / f"during-{during}.jpg").write_bytes(jpeg_bytes(seed=100 + during))
            during += 1
            time.sleep(0.05)
        out, err = backup.communicate()
        assert backup.returncode == 0, err
        assert during >= 10
    finally:
        server.stop()
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["database"] == "postgresql" and manifest["counts"]["detections"] >= 5

    # A fresh install: an empty database and data folder, no secret key given.
    with fresh_database() as url:
        fresh = tmp_path / "restored"
        restore_env = process_env(fresh, DATABASE_URL=url, HOMESEC_SECRET_KEY="<unset>")
        manage("restore", str(tmp_path / "backup"), "--no-progress", env=restore_env, timeout=120)
        with psycopg.connect(url) as conn, conn.cursor() as cursor:
            check_restored(read_rows(cursor), fresh, manifest)
        assert (fresh / "secret_key").read_text() == env["HOMESEC_SECRET_KEY"]
        # The uploads kept their mtimes: the watcher's scan takes none of them again.
        assert "0 file(s) not in the ingest index" in manage("rescan", "--dry-run", env=restore_env)
        assert "the database already holds data" in manage_fails("restore", str(tmp_path / "backup"), env=restore_env)


def test_a_postgresql_backup_restores_into_a_migrated_empty_database(tmp_path):
    from cameras.models import Camera

    Camera.objects.create(id="porch", name="Porch", folder="porch")
    env = process_env(tmp_path / "live", DATABASE_URL=database_url_for_tests())
    manage("backup", str(tmp_path / "backup"), env=env, timeout=120)
    with fresh_database() as url:
        restore_env = process_env(tmp_path / "restored", DATABASE_URL=url)
        manage("migrate", env=restore_env, timeout=120)  # what `manage.py run` would have done
        manage("restore", str(tmp_path / "backup"), env=restore_env, timeout=120)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT id FROM cameras_camera").fetchall() == [("porch",)]
            assert conn.execute("SELECT action FROM monitoring_auditentry").fetchall() == [("restore",)]


def test_a_sqlite_backup_restores_and_a_restore_refuses_an_install_that_is_not_empty(tmp_path, spawn):
    server = FakeDetector().start()
    data = tmp_path / "live"
    env = process_env(
        data,
        DATABASE_URL=f"sqlite:///{data}/homesec.sqlite3",
        REDIS_URL="<unset>",
        HOMESEC_DETECTOR="http",
        HOMESEC_DETECTOR_URL=server.url,
        HOMESEC_SWEEP_S="0.5",
    )
    try:
        manage("migrate", env=env, timeout=120)
        start_manage(spawn, env, ["watch_cameras"], ["worker"])
        (data / "cameras" / "garage").mkdir(parents=True)
        for n in range(3):
            (data / "cameras" / "garage" / f"{n}.jpg").write_bytes(jpeg_bytes(seed=n))

        def detections() -> int:
            with sqlite3.connect(data / "homesec.sqlite3", timeout=10) as db:
                return db.execute("SELECT COUNT(*) FROM detections_detection").fetchone()[0]

        wait_for(lambda: detections() >= 3, timeout=60, what="three detections")
        manage("backup", str(tmp_path / "backup"), env=env)
    finally:
        server.stop()
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["database"] == "sqlite" and manifest["counts"]["detections"] >= 3

    fresh = tmp_path / "restored"
    restore_env = process_env(fresh, DATABASE_URL=f"sqlite:///{fresh}/homesec.sqlite3", REDIS_URL="<unset>")
    manage("restore", str(tmp_path / "backup"), env=restore_env, timeout=120)
    with sqlite3.connect(fresh / "homesec.sqlite3") as db:
        check_restored(read_rows(db.cursor()), fresh, manifest)
    # The restored copy starts and shows the same events.
    manage("ensure_admin", env=restore_env)
    key = manage("create_api_token", "admin", env=restore_env).strip()
    web, base = start_daphne(spawn, restore_env)
    wait_answers(f"{base}/health", web)
    events = httpx.get(f"{base}/api/events/?count=true", headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
    assert events["count"] == manifest["counts"]["events"] > 0
    assert "the database already holds data" in manage_fails("restore", str(tmp_path / "backup"), env=restore_env)

    # An empty database, but a data folder with media in it: refused, and nothing written.
    other = tmp_path / "other"
    (other / "media" / "thumbs").mkdir(parents=True)
    (other / "media" / "thumbs" / "mine.jpg").write_bytes(b"a picture of someone else's")
    other_env = process_env(other, DATABASE_URL=f"sqlite:///{other}/homesec.sqlite3", REDIS_URL="<unset>")
    assert "the data directory is not empty" in manage_fails("restore", str(tmp_path / "backup"), env=other_env)
    assert not (other / "cameras" / "garage").exists()


def test_a_damaged_backup_restores_nothing(tmp_path):
    data = tmp_path / "live"
    env = process_env(data, DATABASE_URL=f"sqlite:///{data}/homesec.sqlite3", REDIS_URL="<unset>")
    manage("migrate", env=env, timeout=120)
    (data / "media" / "thumbs").mkdir(parents=True)
    (data / "media" / "thumbs" / "a.jpg").write_bytes(b"thumbnail")
    manage("backup", str(tmp_path / "backup"), env=env)
    (tmp_path / "backup" / "media" / "thumbs" / "a.jpg").write_bytes(b"thumbnaiL")
    fresh = tmp_path / "restored"
    restore_env = process_env(fresh, DATABASE_URL=f"sqlite:///{fresh}/homesec.sqlite3", REDIS_URL="<unset>")
    assert "checksum differs" in manage_fails("restore", str(tmp_path / "backup"), env=restore_env)
    assert not (fresh / "media" / "thumbs").exists()


# --- Scheduled backups (HOMESEC_BACKUP_DIR): the clock job and the slow lane's task, in-process -----


@pytest.fixture
def backup_dir(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.MEDIA_ROOT = tmp_path / "media"
    (settings.MEDIA_ROOT / "thumbs").mkdir(parents=True)
    (settings.MEDIA_ROOT / "thumbs" / "kept.jpg").write_bytes(b"a thumbnail that stays")
    return settings.BACKUP_DIR


def sends(monkeypatch) -> list:
    """What the clock job hands to the broker (the edge: django-q2's async_task)."""
    calls: list = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kw: calls.append((func, kw)))
    monkeypatch.setattr("monitoring.backup._next_look", 0.0)
    return calls


@pytest.mark.django_db
def test_the_clock_sends_one_backup_a_day_to_the_slow_lane(backup_dir, settings, monkeypatch):
    from monitoring.backup import BACKUP_TASK, backup_due_check, backup_scheduled

    calls = sends(monkeypatch)
    backup_due_check()
    assert calls == [(BACKUP_TASK, {"cluster": "slow", "timeout": settings.BACKUP_TIMEOUT_S})]
    monkeypatch.setattr("monitoring.backup._next_look", 0.0)
    backup_due_check()  # sent and not finished yet: not sent again
    assert len(calls) == 1
    backup_scheduled()
    monkeypatch.setattr("monitoring.backup._next_look", 0.0)
    backup_due_check()  # done a moment ago: due again in a day
    assert len(calls) == 1 and not (backup_dir / ".requested").exists()


@pytest.mark.django_db
def test_scheduled_backups_keep_the_newest_link_unchanged_files_and_never_run_twice(backup_dir, settings):
    from monitoring.backup import _only_one, backup_scheduled
    from monitoring.models import AuditEntry

    settings.BACKUP_KEEP = 2
    for day in range(1, 4):  # three older backups, finished
        old = backup_dir / f"homesec-202612{day:02}-030000"
        old.mkdir(parents=True)
        (old / "manifest.json").write_text("{}")
    (backup_dir / "homesec-20261206-030000").mkdir()  # unfinished: its process died

    first = Path(backup_scheduled())
    assert backup_scheduled() == "not due"  # a second delivery of the same task
    second_name = first.name
    settings.BACKUP_EVERY_H = 0.0001
    time.sleep(1.1)  # a backup's folder is named to the second
    second = Path(backup_scheduled())
    assert sorted(p.name for p in backup_dir.glob("homesec-*")) == sorted([second_name, second.name])
    kept = "media/thumbs/kept.jpg"
    assert (first / kept).stat().st_ino == (second / kept).stat().st_ino  # one copy on disk, two backups
    assert AuditEntry.objects.filter(action="backup", actor_name="system").count() == 2

    with _only_one(backup_dir):
        assert backup_scheduled() == "a backup is running already"


@pytest.mark.django_db
def test_metrics_tell_when_the_last_scheduled_backup_finished(backup_dir):
    from monitoring.backup import backup_metric_families, backup_scheduled

    assert backup_metric_families() == [
        ("homesec_backups", "gauge", "Scheduled backups kept in HOMESEC_BACKUP_DIR.", [({}, 0.0)])
    ]
    before = time.time()
    backup_scheduled()
    families = {name: samples for name, _kind, _help, samples in backup_metric_families()}
    assert families["homesec_backups"] == [({}, 1.0)]
    assert before - 1 <= families["homesec_backup_last_success_timestamp_seconds"][0][1] <= time.time()


@pytest.mark.django_db
def test_a_backup_that_fails_leaves_nothing_and_says_why(settings, tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("pg_dump is PostgreSQL's")
    settings.PG_BIN = str(tmp_path / "bin")  # no pg_dump there
    dest = tmp_path / "backup"
    with pytest.raises(CommandError, match="pg_dump not found"):
        call_command("backup", str(dest), "--no-progress")
    assert list(dest.iterdir()) == []
