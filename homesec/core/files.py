"""Who may read what homesec keeps.

The database holds sessions and channel secrets, the data folder the secret key, the media
folder pictures of the house: all of it is homesec's own user's alone, 0600 files in 0700
folders. The settings call this before anything is written (they are the first code every
homesec process runs), so it imports nothing from Django or the apps.

The camera root is the exception: an FTP server or a NAS may write there as another user,
so its modes are the operator's and homesec never changes them.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
# Written into the data folder once the media tree has been made private: walking a large
# tree at every process start would slow every start (and the supervisor starts several).
# It holds the media root's path, so a media root moved elsewhere is walked once too.
MEDIA_FIXED_MARKER = ".media-modes-private"


def private_umask() -> int:
    """Everything this process creates from now on (database, thumbnails, clip copies) is
    0600 / 0700. Returns the umask the process was started with: the operator's."""
    return os.umask(PRIVATE_UMASK)


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def make_folders(*, data_dir: Path, media_root: Path, camera_root: Path, operator_umask: int) -> None:
    """Create homesec's folders, and make those of an existing install private."""
    for folder in (data_dir, media_root):
        with _umask(operator_umask):  # folders above ours are the operator's
            folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
        _chmod(folder, 0o700)
    if not camera_root.exists():
        with _umask(operator_umask):
            camera_root.mkdir(parents=True, exist_ok=True)
    _media_private_once(data_dir, media_root)


def private_file(path: Path) -> None:
    """Make an existing file 0600 (a file from an install before homesec did this)."""
    if path.exists():
        _chmod(path, 0o600)


def sqlite_private(database: Path) -> None:
    # SQLite gives its journal and WAL files the database's own mode, but older ones exist.
    for suffix in ("", "-wal", "-shm", "-journal"):
        private_file(database.with_name(database.name + suffix))


def _media_private_once(data_dir: Path, media_root: Path) -> None:
    marker = data_dir / MEDIA_FIXED_MARKER
    if marker.is_file() and marker.read_text() == str(media_root):
        return
    done = True
    for folder, _folders, files in os.walk(media_root):
        done &= _chmod(Path(folder), 0o700)
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():  # a link's target is not ours to change
                done &= _chmod(path, 0o600)
    if done:  # else try again at the next start
        marker.write_text(str(media_root))


def _chmod(path: Path, mode: int) -> bool:
    """Set the mode unless it is already so; a file homesec may not change is reported, and
    homesec starts anyway (it ran like this before)."""
    try:
        if stat.S_IMODE(path.stat().st_mode) != mode:
            path.chmod(mode)
    except FileNotFoundError:  # removed meanwhile, e.g. by retention in another process
        return True
    except PermissionError as error:
        logger.warning("could not make %s readable by homesec's user only: %s", path, error)
        return False
    return True


def remove_inside(root: Path | str, relative_paths: Iterable[str]) -> int:
    """Remove files named relative to `root`, never anything outside it (a `..` or a symlink
    out in a stored path is skipped); a file already gone is fine. Returns how many went."""
    base = Path(root).resolve()
    removed = 0
    for relative in set(relative_paths):
        if not relative:
            continue
        path = (base / relative).resolve()
        if not path.is_relative_to(base) or path == base:
            logger.warning("not removing %s: outside %s", relative, base)
            continue
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("could not remove %s: %s", path, exc)
    return removed
