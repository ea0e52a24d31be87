"""Restoring a backup (monitoring/backup.py) into an empty install: refused unless the
database and the data directory hold nothing of a homesec yet, every file checked against
the manifest before anything is written, files given their recorded mtimes, then migrate."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path, PurePosixPath
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections

from homesec.core.files import MEDIA_FIXED_MARKER
from homesec.core.progress import Progress
from homesec.env import env_str
from monitoring.audit import audit_record
from monitoring.backup import (
    CAMERAS,
    MEDIA,
    PG_FILE,
    SECRET_FILE,
    SQLITE_FILE,
    BackupError,
    command_actor,
    copy_file,
    file_sha256,
    manifest_read,
    pg_connection,
    pg_tool,
    run_pg,
)

# Tables migrate fills by itself: a database holding only these is empty.
SEEDED = {"contenttypes.contenttype", "auth.permission", "auth.group", "events.severitylevel"}


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
            if path.stat().st_size != entry["size"] or file_sha256(path) != entry["sha256"]:
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
        copy_file(src / entry["path"], _target_of(entry["path"]), mtime_ns=entry["mtime_ns"])
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
    conninfo, env = pg_connection()
    argv = [pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if connection.introspection.table_names():
        argv += ["--clean", "--if-exists"]  # a migrated but empty database: its tables go first
    connections.close_all()
    run_pg([*argv, "--dbname", conninfo, str(src / PG_FILE)], env)


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
