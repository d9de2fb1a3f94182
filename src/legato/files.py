"""Files only their owner may read: the home folder, the SQLite store, task results.

They hold flow parameters, logs and results (and config.toml may hold an API key), so
legato creates folders 0700 and files 0600 whatever the umask, as ssh does for
``~/.ssh``. Folders that exist already keep their mode: legato never changes the mode
of a folder the user made (``LEGATO_HOME`` may be any folder).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) if absent; the folders made here are 0700.

    Parents are made private too: ``LEGATO_HOME=/srv/legato/home`` makes both folders.
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:  # made meanwhile by another process
            continue
        os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty and 0600 unless it exists; whether it was created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # os.open's mode is masked by the umask
    finally:
        os.close(fd)
    return True


def open_to_others(path: Path) -> int | None:
    """The permission bits of ``path`` if its group or others may use it (else None)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    return mode if mode & 0o077 else None
