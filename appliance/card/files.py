"""Small-file helpers for the card: synced and atomic writes, bounded safe reads.

Every file the appliance writes on the card goes through these: a write is synced
through the :class:`~appliance.ports.FileSystem` port (so a failing card can be
injected), never follows a symlink planted in its place, and a read of the appliance's
own small files (SEQUENCE, PROTECTING, INCIDENTS) never blocks on a FIFO.
"""

from __future__ import annotations

import errno
import logging
import os
import stat

from appliance.errors import StorageFull
from appliance.ports import FileSystem

log = logging.getLogger(__name__)


def fsync_dir(path: str) -> None:
    """Sync a folder (a rename in it becomes durable); errors are ignored."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_file(fs: FileSystem, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` (never through a symlink) and sync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with open(fd, "wb") as f:
        f.write(data)
        f.flush()
        fs.sync(f.fileno())


def write_atomic(fs: FileSystem, path: str, data: bytes, tmp_suffix: str = ".tmp") -> None:
    """Write to a temporary name, sync, then rename over ``path``."""
    tmp = path + tmp_suffix
    unlink(tmp)  # a stale one, or a symlink planted there: never written through
    try:
        write_file(fs, tmp, data)
        fs.rename(tmp, path)
    except BaseException:
        unlink(tmp)
        raise


def read_small_file(path: str, limit_bytes: int = 64 * 1024) -> str:
    """The ASCII text of one of the appliance's own small files on the card.

    Never follows a symlink and never blocks on a FIFO planted in its place.

    Raises:
        FileNotFoundError: there is no such file.
        OSError: it is not a regular file, or it cannot be read.
        ValueError: it is larger than ``limit_bytes`` or not ASCII.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        data = os.read(fd, limit_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > limit_bytes:
        raise ValueError(f"larger than {limit_bytes} bytes")
    return data.decode("ascii")


def unlink(path: str | None) -> None:
    """Delete a file if it exists; a failure is logged, not raised."""
    if path is None:
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not delete %s: %s", path, exc)


def storage_error(exc: OSError) -> OSError:
    """``exc``, or :class:`StorageFull` when it says the card is full."""
    if exc.errno == errno.ENOSPC:
        return StorageFull(errno.ENOSPC, "the card is full")
    return exc
