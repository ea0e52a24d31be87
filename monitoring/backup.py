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
from pathlib import Path, PurePosixPath
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections

from cameras.models import Ingest
from detections.models import Clip, Detection
from events.models import Event
from homesec.core.files import MEDIA_FIXED_MARKER
from homesec.core.progress import Progress
from homesec.core.tasks import lane_of
from homesec.env import env_str
from monitoring.audit import audit_record

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
# Tables migrate fills by itself: a database holding only these is empty.
SEEDED = {"contenttypes.contenttype", "auth.permission", "auth.group", "events.severitylevel"}


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


def _pg_connection() -> tuple[str, dict[str, str]]:
    """libpq's connection string for the database, and an environment with its password
    (never on a command line, where `ps` shows it)."""
    from psycopg.conninfo import make_conninfo

    db = connection.settings_dict
    params = {"dbname": db["NAME"], "user": db["USER"], "host": db["HOST"], "port": db["PORT"]}
    params.update({key: str(value) for key, value in (db.get("OPTIONS") or {}).items()})
    env = {**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}
    return make_conninfo(**{key: value for key, value in params.items() if value}), env


def _run_pg(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode:
        raise BackupError(f"{Path(argv[0]).name} failed: {done.stderr.strip()[-2000:]}")


def _snapshot_postgresql(dest: Path) -> Snapshot:
    import psycopg

    conninfo, env = _pg_connection()
    with psycopg.connect(conninfo, password=env["PGPASSWORD"] or None) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            (snapshot_id,) = cursor.fetchone() or ("",)
            # pg_dump reads the snapshot this transaction holds open: its dump and the
            # file list below are of the same moment.
            argv = [pg_tool("pg_dump"), "--format=custom", f"--snapshot={snapshot_id}"]
            _run_pg([*argv, "--file", str(dest / PG_FILE), "--dbname", conninfo], env)
            snapshot = _read_snapshot(cursor)
        conn.rollback()
    return snapshot


def _inside(root: Path, relative: str) -> Path | None:
    """root/relative, unless a stored path leads out of root (`..`, a symlink out)."""
    base = root.resolve()
    path = (base / relative).resolve()
    return path if path.is_relative_to(base) and path != base else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_file(source: Path, target: Path, *, mtime_ns: int | None = None) -> tuple[int, str, int]:
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
    return {"path": name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": _sha256(dest / name)}


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
        size, sha256, mtime_ns = _copy_file(source, target)
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


# --- Restoring ---------------------------------------------------------------------------------


def _target_of(name: str) -> Path:
    """Where a backup's file goes; a name that would lead anywhere else is refused."""
    parts = PurePosixPath(name).parts
    if PurePosixPath(name).is_absolute() or ".." in parts or len(parts) < 2 or parts[0] not in (MEDIA, CAMERAS):
        raise BackupError(f"the manifest names {name!r}, which is not a file of a homesec backup")
    root = settings.MEDIA_ROOT if parts[0] == MEDIA else settings.CAMERA_ROOT
    return Path(root, *parts[1:])


def database_tables_with_rows() -> list[str]:
    """homesec's tables in the configured database that hold rows (migrate's own aside)."""
    existing = set(connection.introspection.table_names())
    full = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            table = model._meta.db_table
            if model._meta.label_lower in SEEDED or not model._meta.managed or table not in existing:
                continue
            cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT 1")  # noqa: S608
            if cursor.fetchone():
                full.append(table)
    return full


def restore_problems(manifest: dict[str, Any]) -> list[str]:
    """Why the configured install is no place to restore into; empty when it is."""
    problems = []
    kind = "sqlite" if connection.vendor == "sqlite" else "postgresql"
    if manifest["database"] != kind:
        problems.append(f"the backup is of a {manifest['database']} database; this homesec is configured for {kind}")
    full = database_tables_with_rows()
    if full:
        problems.append(f"the database already holds data (in {', '.join(sorted(full)[:5])})")
    allowed = {settings.DATA_DIR / SECRET_FILE, settings.DATA_DIR / MEDIA_FIXED_MARKER}
    if kind == "sqlite":
        database = Path(connection.settings_dict["NAME"])
        allowed |= {database.with_name(database.name + suffix) for suffix in ("", "-wal", "-shm", "-journal")}
    skip = {Path(settings.MEDIA_ROOT).resolve(), Path(settings.CAMERA_ROOT).resolve()}
    others = []
    for folder, dirs, files in os.walk(settings.DATA_DIR):
        dirs[:] = [d for d in dirs if Path(folder, d).resolve() not in skip]
        others += [str(Path(folder, name)) for name in files if Path(folder, name) not in allowed]
    for folder, _dirs, files in os.walk(settings.MEDIA_ROOT):
        others += [str(Path(folder, name)) for name in files]
    if others:
        problems.append(f"the data directory is not empty: {', '.join(sorted(others)[:5])}")
    taken = [e["path"] for e in manifest["files"] if "/" in e["path"] and _target_of(e["path"]).exists()]
    if taken:
        problems.append(f"files the backup holds exist already: {', '.join(taken[:5])}")
    return problems


def backup_verify(*, src: Path, manifest: dict[str, Any], progress: bool = False) -> list[str]:
    """Every file of the backup against the manifest's size and sha256; what is wrong."""
    wrong = []
    bar = Progress(len(manifest["files"]), "verify") if progress else None
    for entry in manifest["files"]:
        path = src / entry["path"]
        try:
            if path.stat().st_size != entry["size"] or _sha256(path) != entry["sha256"]:
                wrong.append(f"{entry['path']}: its checksum differs from the manifest's")
        except FileNotFoundError:
            wrong.append(f"{entry['path']}: missing from the backup")
        if bar:
            bar.advance()
    if bar:
        bar.close()
    return wrong


def backup_restore(*, src: Path, progress: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Restore the backup in `src` into the configured install, which must be empty:
    database, files (checked against the manifest first), secret key; then migrate (the
    backup may be of an older homesec). Returns the manifest and notes for the operator."""
    manifest = manifest_read(src)
    for entry in manifest["files"]:
        if "/" in entry["path"]:
            _target_of(entry["path"])  # refuses a manifest naming a path outside the roots
    problems = restore_problems(manifest)
    if problems:
        raise BackupError("refusing to restore over an install that is not empty: " + "; ".join(problems))
    wrong = backup_verify(src=src, manifest=manifest, progress=progress)
    if wrong:
        raise BackupError("the backup is damaged, nothing was restored: " + "; ".join(wrong[:10]))
    _restore_database(src, manifest)
    files = [e for e in manifest["files"] if "/" in e["path"]]
    bar = Progress(len(files), "files") if progress else None
    for entry in files:
        _copy_file(src / entry["path"], _target_of(entry["path"]), mtime_ns=entry["mtime_ns"])
        if bar:
            bar.advance()
    if bar:
        bar.close()
    notes = _restore_secret_key((src / SECRET_FILE).read_text().strip())
    connections.close_all()
    call_command("migrate", interactive=False, verbosity=0)
    audit_record(
        action="restore",
        actor_name=command_actor(),
        target=str(src),
        detail={"created_at": manifest["created_at"], "counts": manifest["counts"], "files": len(files)},
    )
    return manifest, notes


def _restore_database(src: Path, manifest: dict[str, Any]) -> None:
    if manifest["database"] == "sqlite":
        connections.close_all()
        target = Path(connection.settings_dict["NAME"])
        for suffix in ("-wal", "-shm", "-journal"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        with closing(sqlite3.connect(src / SQLITE_FILE)) as source, closing(sqlite3.connect(target)) as copy:
            source.backup(copy)
        return
    conninfo, env = _pg_connection()
    argv = [pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if connection.introspection.table_names():
        argv += ["--clean", "--if-exists"]  # a migrated but empty database: its tables go first
    connections.close_all()
    _run_pg([*argv, "--dbname", conninfo, str(src / PG_FILE)], env)


def _restore_secret_key(key: str) -> list[str]:
    if env_str("HOMESEC_SECRET_KEY"):
        if key == settings.SECRET_KEY:
            return []
        return [
            "HOMESEC_SECRET_KEY in the environment differs from the backup's: sign-in sessions and links sent "
            "before the backup do not work until it is set to the key in the backup's secret_key file"
        ]
    path = settings.DATA_DIR / SECRET_FILE
    part = path.with_name(path.name + ".part")
    part.unlink(missing_ok=True)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    part.replace(path)
    return []


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
    now = datetime.now(UTC)
    newest = _scheduled(folder) if folder.is_dir() else []
    if newest and now - newest[0][0] < timedelta(hours=settings.BACKUP_EVERY_H):
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
    HOMESEC_BACKUP_KEEP kept. Never two at once (a lock on the folder)."""
    folder = settings.BACKUP_DIR
    if folder is None:
        return "no HOMESEC_BACKUP_DIR"
    with _only_one(folder) as mine:
        if not mine:
            return "a backup is running already"
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
