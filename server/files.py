"""Private files on disk: folders 0700, the database and the secret 0600, planted files refused."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from .config import ConfigError

PRIVATE_FOLDER_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


class UnsafeFileError(ConfigError):
    """A file the server must trust is open to other users; the message says how to fix it."""


def make_private_folders(folder: Path) -> None:
    """Create ``folder`` and its missing parents, each 0700 (existing ones are left alone)."""
    missing = [path for path in (folder, *folder.parents) if not path.exists()]
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it first
            path.mkdir(mode=PRIVATE_FOLDER_MODE)


def create_private_file(path: Path) -> bool:
    """Create an empty ``path`` with mode 0600 unless it exists; True if this call made it."""
    make_private_folders(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def write_private_file_once(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` (mode 0600, folders 0700) unless it exists: written to a
    temporary file, then linked into place, so no reader ever sees a partial file and two
    processes racing both end up with the one that won."""
    make_private_folders(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    try:
        os.link(tmp, path)  # atomic "create if absent" with the full content
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def check_private_file(path: Path) -> None:
    """Refuse ``path`` unless it is a regular file of this user that nobody else may access."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError(f"{path} is not a regular file")
    if info.st_uid != os.geteuid():
        raise UnsafeFileError(
            f"{path} is owned by uid {info.st_uid}, not by this server's uid {os.geteuid()}; "
            "refusing to trust it"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise UnsafeFileError(
            f"{path} has mode {stat.S_IMODE(info.st_mode):04o}: other users may read or change "
            f"it; refusing to trust it (chmod 600 {path})"
        )
