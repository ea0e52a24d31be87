"""The camera-folder watcher: notices finished uploads and registers them for ingest.

A file is ready when its writer closes it (inotify close-write), when it is renamed into
place (FTP clients upload to `x.part` first), or, when polling (NFS, SMB), once its size
and mtime have been stable for HOMESEC_WATCH_STABLE_S. With inotify, a file that appears
without a close (moved in from outside the tree) is also taken once stable; a writer that
pauses longer than that gets its partial file recorded as rejected, and the complete
file ingested when it closes. At start it scans the tree for
files that arrived while it was down; the Ingest table is the index of what was seen
(path, size, mtime), so the scan reads directory entries, never file contents.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections
from watchdog.events import (
    DirCreatedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserverVFS

from cameras.ingest import FileVersion, ingest_register
from cameras.models import Ingest
from cameras.services import camera_get_or_create_for_folder

logger = logging.getLogger("homesec.watcher")

TEMP_SUFFIXES = (".part", ".tmp", ".filepart", ".crdownload", ".partial", "~")
MEDIA_SUFFIXES = (".jpg", ".jpeg", ".png", ".mp4", ".mkv", ".avi", ".mov")


def is_temporary(name: str) -> bool:
    """FTP temp names are ignored until they are renamed into place."""
    lower = name.lower()
    return name.startswith(".") or lower.endswith(TEMP_SUFFIXES)


class CameraWatcher(FileSystemEventHandler):
    def __init__(self, root: Path, *, polling: bool = False, stable_s: float = 2.0) -> None:
        self.root = root.resolve()
        self.polling = polling
        self.stable_s = stable_s
        self.lock = threading.Lock()
        self.ready: dict[Path, None] = {}
        self.new_folders: dict[Path, None] = {}
        self.growing: dict[Path, tuple[int, int, float]] = {}  # path -> (size, mtime_ns, stable since)
        self.observer: BaseObserver | None = None
        # Set by the observer thread whenever there is something to register: the loop
        # sleeps on it instead of polling for uploads that, most of the time, do not come.
        self.wake = threading.Event()

    def has_news(self) -> bool:
        """A file ready or a new folder: flush() registers it at once."""
        return bool(self.ready or self.new_folders)

    def has_growing(self) -> bool:
        """A file to look at again until its size is stable (moved in, or polling mode)."""
        return bool(self.growing)

    # --- watchdog callbacks (observer thread): only note paths, never touch the DB -------

    def _relevant(self, path: Path) -> bool:
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return False
        return len(rel.parts) >= 2 and not any(is_temporary(part) for part in rel.parts)

    def _mark_ready(self, path: Path) -> None:
        if self._relevant(path):
            with self.lock:
                self.ready[path] = None
                self.growing.pop(path, None)
            self.wake.set()

    def on_closed(self, event: FileClosedEvent) -> None:
        if not self.polling:
            self._mark_ready(Path(os.fsdecode(event.src_path)))

    def on_moved(self, event: DirMovedEvent | FileMovedEvent) -> None:
        dest = Path(os.fsdecode(event.dest_path))
        if isinstance(event, FileMovedEvent):
            self._mark_ready(dest)
        else:
            self._folder_created(dest)  # a folder moved in: everything inside is new

    def on_created(self, event: DirCreatedEvent | FileCreatedEvent) -> None:
        path = Path(os.fsdecode(event.src_path))
        if isinstance(event, DirCreatedEvent):
            self._folder_created(path)
        elif isinstance(event, FileCreatedEvent):
            if path.is_symlink():
                self._mark_ready(path)  # a symlink is never written, so it never closes
            else:
                # Usually a close follows. But a file moved in from outside the tree also
                # arrives as "created" and never closes here: it is taken once stable.
                self._track(path)

    def on_modified(self, event: DirModifiedEvent | FileModifiedEvent) -> None:
        if self.polling and isinstance(event, FileModifiedEvent):
            self._track(Path(os.fsdecode(event.src_path)))

    def _folder_created(self, path: Path) -> None:
        if is_temporary(path.name):
            return
        with self.lock:
            # Files written into a folder before its own watch was in place send no event:
            # the next flush scans the new folder (this also registers a new camera).
            self.new_folders[path] = None
        self.wake.set()

    def _track(self, path: Path) -> None:
        if self._relevant(path):
            with self.lock:
                self.growing.setdefault(path, (-1, -1, 0.0))
            self.wake.set()

    # --- main thread --------------------------------------------------------------------

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.polling:
            # lstat, not stat: a symlink to a folder is an entry of its own (and is rejected
            # when ingested), never a way into a tree outside the camera folder.
            observer: BaseObserver = PollingObserverVFS(stat=os.lstat, listdir=os.scandir, polling_interval=1)
        else:
            observer = Observer()  # inotify does not follow symlinked folders
        self.observer = observer
        observer.schedule(self, str(self.root), recursive=True)
        observer.start()
        # Started first, scanned second: a file arriving during the scan is seen by both,
        # and the Ingest table's uniqueness makes that one row.
        self.scan(self.root)

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)

    def scan(self, top: Path) -> int:
        """Register every file under `top` that the Ingest table has not seen."""
        close_old_connections()
        if top == self.root:
            for entry in os.scandir(self.root):
                if entry.is_dir(follow_symlinks=False) and not is_temporary(entry.name):
                    camera_get_or_create_for_folder(folder=entry.name)
        elif top.parent == self.root:
            camera_get_or_create_for_folder(folder=top.name)
        new, fresh = self.unindexed(top)
        for path in fresh:
            self._track(path)
        self.register(new)
        if new and top == self.root:
            logger.info("scan found %d new file(s) under %s", len(new), top)
        return len(new)

    def unindexed(self, top: Path) -> tuple[list[Path], list[Path]]:
        """Files under `top` the Ingest table has not seen (by path, size and mtime): those
        to take now, and those modified moments ago, to take once their size is stable. It
        reads directory entries only, and writes nothing (`manage.py rescan --dry-run`)."""
        found: list[Path] = []
        if top != self.root and top.suffix.lower() in MEDIA_SUFFIXES and self._relevant(top):
            found.append(top)  # a directory named like a photo: recorded as rejected
        self._walk(top, found)
        # Every path found is inside a camera folder, so each has a version.
        versions = [(p, v) for p in found if (v := FileVersion.of(p, root=self.root)) is not None]
        known = Ingest.objects.all()
        if top != self.root:
            known = known.filter(path__startswith=top.relative_to(self.root).as_posix() + "/")
        seen = set(known.values_list("path", "size", "mtime_ns").iterator(chunk_size=5000))
        new = [p for p, v in versions if (v.path, v.size, v.mtime_ns) not in seen]
        # A file modified moments ago may still be open for writing, and its close may have
        # happened before the observer started: wait until its size is stable instead.
        recent_ns = time.time_ns() - int(self.stable_s * 1e9)
        fresh = {p for p, v in versions if v.mtime_ns > recent_ns}
        return [p for p in new if p not in fresh], [p for p in new if p in fresh]

    def register(self, paths: list[Path], on_batch: Callable[[int], None] | None = None) -> None:
        """Ingest rows for `paths`, in batches of HOMESEC_INGEST_BATCH (one task each)."""
        for start in range(0, len(paths), settings.INGEST_BATCH):
            batch = paths[start : start + settings.INGEST_BATCH]
            ingest_register(paths=batch)
            if on_batch:
                on_batch(len(batch))

    def _walk(self, folder: Path, found: list[Path]) -> None:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return
        for entry in entries:
            path = Path(entry.path)
            if is_temporary(entry.name):
                continue
            if entry.is_symlink():
                if self._relevant(path):
                    found.append(path)
            elif entry.is_dir():
                if path.suffix.lower() in MEDIA_SUFFIXES and self._relevant(path):
                    found.append(path)
                self._walk(path, found)
            elif entry.is_file() and self._relevant(path):
                found.append(path)

    def flush(self) -> int:
        """Register what became ready; in polling mode, promote files stable long enough."""
        now = time.monotonic()
        with self.lock:
            self._promote_stable(now)
            ready, folders = list(self.ready), list(self.new_folders)
            self.ready.clear()
            self.new_folders.clear()
        if not ready and not folders:
            return 0
        close_old_connections()
        for folder in folders:
            self.scan(folder)
        self.register(ready)
        return len(ready)

    def _promote_stable(self, now: float) -> None:
        for path, (size, mtime_ns, since) in list(self.growing.items()):
            try:
                st = path.stat()
            except FileNotFoundError:
                del self.growing[path]
                continue
            except OSError:  # cannot be looked at: registered, and rejected with the reason
                del self.growing[path]
                self.ready[path] = None
                continue
            if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
                self.growing[path] = (st.st_size, st.st_mtime_ns, now)
            elif now - since >= self.stable_s:
                del self.growing[path]
                self.ready[path] = None
