"""Backups: a consistent copy of one homesec (database, media, secret key) with a manifest
of checksums, taken while homesec runs; and its restore into an empty install.

Consistent: the database is copied first, in one read transaction (SQLite's online backup
API; on PostgreSQL pg_dump inside a snapshot exported here and held open), and the list of
files to copy is read from that same snapshot. Every file a snapshot row names is copied;
a file deleted since (retention, an operator's delete) is listed as missing, not an error.

What is in a backup (one folder):
- `database.sqlite3` or `database.pgdump` (pg_dump's custom format);
- `media/`: the whole media root (thumbnails, previews, clip copies): what rows name, and
  what else is there (files of rows committed after the snapshot are harmless extras);
- `cameras/`: the uploads in the camera root that the snapshot's ingest rows name (every
  row but deleted ones). A file no row names yet is an upload the watcher has not taken:
  not homesec's data yet, and the camera root may be a share other programs write to;
- `secret_key`: signed links and sessions of the restored copy keep working with it;
- `manifest.json`, written last (a folder without one is unfinished): every file with its
  size, mtime and sha256, the events and detections counts of the snapshot, the homesec
  version and the database kind.

Files keep their mtimes to the nanosecond: the ingest table knows an upload by (path,
size, mtime), so a restored upload with a new mtime would be taken again as a new one.

Scheduled backups (HOMESEC_BACKUP_DIR) are folders `homesec-YYYYmmdd-HHMMSS` (UTC). A file
unchanged since the newest earlier backup (same size and mtime) is hard-linked to it, not
copied: HOMESEC_BACKUP_KEEP daily backups of a media tree that mostly stays cost about one
copy of it, not seven.

Restoring: monitoring/restore.py.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from cameras.models import Ingest
from detections.models import Clip, Detection
from events.models import Event
from homesec.core.progress import Progress
from homesec.core.tasks import lane_of
from homesec.env import env_str
from monitoring.audit import audit_record
from monitoring.metrics import GAUGE, Family

logger = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
SECRET_FILE = "secret_key"
MEDIA, CAMERAS = "media", "cameras"
SCHEDULED_PREFIX = "homesec-"
SCHEDULED_FORMAT = "%Y%m%d-%H%M%S"
BACKUP_TASK = "monitoring.backup.backup_scheduled"


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why."""


def homesec_version() -> str:
    try:
        return metadata.version("homesec")
    except metadata.PackageNotFoundError:
        return "unknown"


def command_actor() -> str:
    try:
        return f"{getpass.getuser()} (manage.py)"
    except (KeyError, OSError):
        return "manage.py"


# --- Taking a backup ---------------------------------------------------------------------------


@dataclass
class Snapshot:
    """What the database copy names: uploads (camera-root paths), media (media-root paths)."""

    uploads: set[str] = field(default_factory=set)
    media: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)


def _read_snapshot(cursor: Any) -> Snapshot:
    """The same plain SQL on a sqlite3 cursor over the copy and on a psycopg cursor inside
    the snapshot pg_dump read."""
    snapshot = Snapshot()
    ingests, detections, clips = Ingest._meta.db_table, Detection._meta.db_table, Clip._meta.db_table
    cursor.execute(f"SELECT path FROM {ingests} WHERE status <> 'deleted'")  # noqa: S608 - our table names
    snapshot.uploads = {path for (path,) in cursor.fetchall()}
    cursor.execute(f"SELECT thumbnail, preview FROM {detections}")  # noqa: S608
    snapshot.media = {name for pair in cursor.fetchall() for name in pair if name}
    cursor.execute(f"SELECT playable FROM {clips} WHERE playable <> ''")  # noqa: S608
    snapshot.media |= {name for (name,) in cursor.fetchall()}
    for name, model in (("events", Event), ("detections", Detection), ("ingests", Ingest)):
        cursor.execute(f"SELECT COUNT(*) FROM {model._meta.db_table}")  # noqa: S608
        snapshot.counts[name] = cursor.fetchone()[0]
    return snapshot


def _snapshot_sqlite(dest: Path) -> Snapshot:
    # One step (pages=-1): one read transaction, so writers in other processes go on (WAL)
    # and the copy is of one moment. Stepwise copies restart whenever another process writes.
    with closing(sqlite3.connect(connection.settings_dict["NAME"], timeout=30)) as source:
        with closing(sqlite3.connect(dest / SQLITE_FILE)) as copy:
            source.backup(copy)
            return _read_snapshot(copy.cursor())


def pg_tool(name: str) -> str:
    """pg_dump or pg_restore: from HOMESEC_PG_BIN, else the PATH."""
    found = str(Path(settings.PG_BIN) / name) if settings.PG_BIN else shutil.which(name)
    if not found or not os.access(found, os.X_OK):
        raise BackupError(
            f"{name} not found: install the PostgreSQL client (postgresql-client-15) or set HOMESEC_PG_BIN"
        )
    return found


def pg_connection() -> tuple[str, dict[str, str]]:
    """libpq's connection string for the database, and an environment with its password
    (never on a command line, where `ps` shows it)."""
    from psycopg.conninfo import make_conninfo

    db = connection.settings_dict
    params = {"dbname": db["NAME"], "user": db["USER"], "host": db["HOST"], "port": db["PORT"]}
    params.update({key: str(value) for key, value in (db.get("OPTIONS") or {}).items()})
    env = {**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}
    return make_conninfo(**{key: value for key, value in params.items() if value}), env


def run_pg(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode:
        raise BackupError(f"{Path(argv[0]).name} failed: {done.stderr.strip()[-2000:]}")


def _snapshot_postgresql(dest: Path) -> Snapshot:
    import psycopg

    conninfo, env = pg_connection()
    with psycopg.connect(conninfo, password=env["PGPASSWORD"] or None) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            (snapshot_id,) = cursor.fetchone() or ("",)
            # pg_dump reads the snapshot this transaction holds open: its dump and the
            # file list below are of the same moment.
            argv = [pg_tool("pg_dump"), "--format=custom", f"--snapshot={snapshot_id}"]
            run_pg([*argv, "--file", str(dest / PG_FILE), "--dbname", conninfo], env)
            snapshot = _read_snapshot(cursor)
        conn.rollback()
    return snapshot


def _inside(root: Path, relative: str) -> Path | None:
    """root/relative, unless a stored path leads out of root (`..`, a symlink out)."""
    base = root.resolve()
    path = (base / relative).resolve()
    return path if path.is_relative_to(base) and path != base else None


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def copy_file(source: Path, target: Path, *, mtime_ns: int | None = None) -> tuple[int, str, int]:
    """Copy and hash in one read; the copy gets the source's mtime (or the given one).
    Never overwrites. Returns (size, sha256, mtime_ns)."""
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as reader, target.open("xb") as writer:
        stat = os.fstat(reader.fileno())
        while chunk := reader.read(1024 * 1024):
            digest.update(chunk)
            writer.write(chunk)
    mtime_ns = stat.st_mtime_ns if mtime_ns is None else mtime_ns
    os.utime(target, ns=(mtime_ns, mtime_ns))
    return target.stat().st_size, digest.hexdigest(), mtime_ns


def _media_present() -> set[str]:
    found = set()
    for folder, _dirs, files in os.walk(settings.MEDIA_ROOT):
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                found.add(path.relative_to(settings.MEDIA_ROOT).as_posix())
    return found


def _refuse_inside_homesec(dest: Path) -> None:
    for root, what in ((settings.MEDIA_ROOT, "media root"), (settings.CAMERA_ROOT, "camera root")):
        if dest.resolve().is_relative_to(Path(root).resolve()):
            raise BackupError(f"{dest} is inside the {what}: a backup there would back itself up")


def backup_create(*, dest: Path, link_dest: Path | None = None, progress: bool = False) -> dict[str, Any]:
    """Write a backup into `dest` (a new or empty folder); returns its manifest. Files
    unchanged since the backup in `link_dest` (by its manifest) are hard-linked to it."""
    _refuse_inside_homesec(dest)
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: a backup goes into a new or empty folder")
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        return _write_backup(dest, link_dest, progress)
    except BaseException:
        # Half a backup (no manifest) is no backup: what was written goes, the folder stays.
        for path in list(dest.iterdir()):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        raise


def _write_backup(dest: Path, link_dest: Path | None, progress: bool) -> dict[str, Any]:
    kind = connection.vendor
    database_file = SQLITE_FILE if kind == "sqlite" else PG_FILE
    snapshot = _snapshot_sqlite(dest) if kind == "sqlite" else _snapshot_postgresql(dest)
    entries = [_entry(dest, database_file)]
    (dest / SECRET_FILE).write_text(settings.SECRET_KEY)
    entries.append(_entry(dest, SECRET_FILE))

    previous = _manifest_files(link_dest) if link_dest else {}
    wanted = sorted(
        [(f"{CAMERAS}/{p}", settings.CAMERA_ROOT, p) for p in snapshot.uploads]
        + [(f"{MEDIA}/{p}", settings.MEDIA_ROOT, p) for p in snapshot.media | _media_present()]
    )
    missing, bar = [], Progress(len(wanted), "files") if progress else None
    for name, root, relative in wanted:
        entry = _back_up_file(dest, name, _inside(root, relative), previous, link_dest)
        if entry is None:
            missing.append(name)
        else:
            entries.append(entry)
        if bar:
            bar.advance()
    if bar:
        bar.close()
    manifest = {
        "format": FORMAT,
        "homesec_version": homesec_version(),
        "created_at": datetime.now(UTC).isoformat(),
        "database": "sqlite" if kind == "sqlite" else "postgresql",
        "database_file": database_file,
        "secret_key_from": "environment" if env_str("HOMESEC_SECRET_KEY") else "data directory",
        "counts": snapshot.counts,
        "bytes": sum(e["size"] for e in entries),
        "files": entries,
        "missing": missing,
    }
    part = dest / f"{MANIFEST}.part"
    part.write_text(json.dumps(manifest, indent=1))
    part.rename(dest / MANIFEST)
    return manifest


def _entry(dest: Path, name: str) -> dict[str, Any]:
    stat = (dest / name).stat()
    return {"path": name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": file_sha256(dest / name)}


def _back_up_file(
    dest: Path, name: str, source: Path | None, previous: dict[str, dict], link_dest: Path | None
) -> dict[str, Any] | None:
    if source is None:
        return None
    target = dest / name
    try:
        stat = source.stat()
        before = previous.get(name)
        if link_dest and before and (before["size"], before["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns):
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(link_dest / name, target)
                return dict(before)
            except OSError:
                pass  # gone from the old backup, or another file system: copied below
        size, sha256, mtime_ns = copy_file(source, target)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None  # deleted since the snapshot (or never a file): listed as missing
    return {"path": name, "size": size, "mtime_ns": mtime_ns, "sha256": sha256}


def manifest_read(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{folder} holds no {MANIFEST}: not a backup, or an unfinished one") from None
    except ValueError as error:
        raise BackupError(f"{folder / MANIFEST} is not valid JSON: {error}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{folder} is a backup of format {manifest.get('format')!r}; this homesec reads {FORMAT}")
    return manifest


def _manifest_files(folder: Path) -> dict[str, dict]:
    try:
        return {entry["path"]: entry for entry in manifest_read(folder)["files"]}
    except BackupError:
        return {}


# --- Scheduled backups (HOMESEC_BACKUP_DIR) ------------------------------------------------------

_next_look = 0.0


def _scheduled(folder: Path) -> list[tuple[datetime, Path]]:
    """Finished scheduled backups in `folder`, newest first."""
    found = []
    for path in folder.glob(f"{SCHEDULED_PREFIX}*"):
        try:
            when = datetime.strptime(path.name[len(SCHEDULED_PREFIX) :], SCHEDULED_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            continue
        if (path / MANIFEST).is_file():
            found.append((when, path))
    return sorted(found, reverse=True)


def _due(folder: Path) -> bool:
    """The newest scheduled backup is HOMESEC_BACKUP_EVERY_H old, or there is none."""
    newest = _scheduled(folder) if folder.is_dir() else []
    return not newest or datetime.now(UTC) - newest[0][0] >= timedelta(hours=settings.BACKUP_EVERY_H)


def backup_due_check() -> None:
    """A clock job: when the newest scheduled backup is a day old (HOMESEC_BACKUP_EVERY_H),
    send one to the slow lane. It looks at most once a minute (the clock ticks every few
    seconds), and not again while the one sent may still run: the `.requested` marker is
    removed by a backup that succeeded, and a failed one is tried again after the timeout."""
    global _next_look
    folder = settings.BACKUP_DIR
    if folder is None or time.monotonic() < _next_look:
        return
    _next_look = time.monotonic() + 60
    if not _due(folder):
        return
    requested = folder / ".requested"
    if requested.exists() and time.time() - requested.stat().st_mtime < settings.BACKUP_TIMEOUT_S:
        return
    from django_q.tasks import async_task

    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    requested.touch()
    # Its own time limit: copying the media of months takes longer than a slow task may.
    async_task(BACKUP_TASK, cluster=lane_of(BACKUP_TASK), timeout=settings.BACKUP_TIMEOUT_S)


@contextmanager
def _only_one(folder: Path) -> Iterator[bool]:
    """True while this process holds the backup folder's lock; False if another does."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def backup_scheduled() -> str:
    """The slow lane's task: one backup into HOMESEC_BACKUP_DIR, then only the newest
    HOMESEC_BACKUP_KEEP kept. Never two at once (a lock on the folder), and none while the
    newest is younger than HOMESEC_BACKUP_EVERY_H: the database broker hands a task that runs
    longer than its lane's retry time to a worker again, and that copy then changes nothing."""
    folder = settings.BACKUP_DIR
    if folder is None:
        return "no HOMESEC_BACKUP_DIR"
    with _only_one(folder) as mine:
        if not mine:
            return "a backup is running already"
        if not _due(folder):
            (folder / ".requested").unlink(missing_ok=True)
            return "not due"
        for path in folder.glob(f"{SCHEDULED_PREFIX}*"):
            if path.is_dir() and not (path / MANIFEST).exists():
                shutil.rmtree(path, ignore_errors=True)  # unfinished: its process died
        previous = _scheduled(folder)
        dest = folder / f"{SCHEDULED_PREFIX}{datetime.now(UTC):{SCHEDULED_FORMAT}}"
        try:
            manifest = backup_create(dest=dest, link_dest=previous[0][1] if previous else None)
        except Exception:
            logger.exception("the scheduled backup into %s failed; it is tried again later", dest)
            shutil.rmtree(dest, ignore_errors=True)
            raise
        backup_audit(dest=dest, manifest=manifest, actor_name="system")
        for _when, old in _scheduled(folder)[settings.BACKUP_KEEP :]:
            shutil.rmtree(old, ignore_errors=True)
        (folder / ".requested").unlink(missing_ok=True)
    logger.info("backup written to %s (%d files, %d missing)", dest, len(manifest["files"]), len(manifest["missing"]))
    return str(dest)


def backup_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the audit log and the command tell of a backup."""
    return {
        "counts": manifest["counts"],
        "files": len(manifest["files"]),
        "bytes": manifest["bytes"],
        "missing": len(manifest["missing"]),
        "database": manifest["database"],
    }


def backup_audit(*, dest: Path, manifest: dict[str, Any], actor_name: str = "") -> None:
    actor_name = actor_name or command_actor()
    audit_record(action="backup", actor_name=actor_name, target=str(dest), detail=backup_summary(manifest))


def backup_metric_families() -> list[Family]:
    """For /metrics (a METRIC_COLLECTORS entry), with HOMESEC_BACKUP_DIR set: when the newest
    scheduled backup finished and how many are kept, so an alert can fire on backups that
    stopped happening (`time() - homesec_backup_last_success_timestamp_seconds > 2 * 86400`)."""
    folder = settings.BACKUP_DIR
    if folder is None:
        return []
    kept = _scheduled(folder) if folder.is_dir() else []
    families: list[Family] = [
        ("homesec_backups", GAUGE, "Scheduled backups kept in HOMESEC_BACKUP_DIR.", [({}, float(len(kept)))])
    ]
    if kept:
        finished = (kept[0][1] / MANIFEST).stat().st_mtime
        help_text = "When the newest scheduled backup was finished (Unix time)."
        families.append(("homesec_backup_last_success_timestamp_seconds", GAUGE, help_text, [({}, finished)]))
    return families
