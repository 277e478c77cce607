"""Files and folders only the device's own user can open: 0600 and 0700, whatever the umask.

The device folder holds recipients, subjects, sealed tokens and received mail; on a shared
machine none of it is for other users, so nothing in it may depend on the umask of whoever
started the device. Modes are given at creation and set exactly afterwards (a umask can only
take bits away, but a very strict one would leave the owner unable to write). A folder or file
made by an older version with wider modes is tightened when it is opened again.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

__all__ = ["PRIVATE_DIR", "PRIVATE_FILE", "drop_cached", "fsync_path", "open_private",
           "private_dir", "tighten", "write_private"]

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def tighten(path: Path, mode: int) -> None:
    """Give an existing file or folder exactly `mode`, if it has another."""
    if stat.S_IMODE(os.stat(path).st_mode) != mode:
        os.chmod(path, mode)


def private_dir(path: Path) -> Path:
    """Make `path` (and any missing folder above it) 0700; tighten it if it exists.

    Folders above `path` that already exist are left as they are: they are not the device's.
    """
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR)
        except FileExistsError:  # made meanwhile by another thread or process
            pass
        else:
            tighten(folder, PRIVATE_DIR)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} exists and is not a folder")
    tighten(path, PRIVATE_DIR)
    return path


def fsync_path(path: Path) -> None:
    """fsync a file or a folder by its name (a folder: so that what was just renamed into it,
    or out of it, stays so after a power cut)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def drop_cached(fd: int) -> None:
    """Give back the page cache an fsynced file holds (`POSIX_FADV_DONTNEED`); a no-op where
    the system has no `posix_fadvise`.

    For a file written once and read much later, or never: the fax spool's batch files are
    read back once, by the print worker after the POP session. Kept, their pages pile up
    (37 MB for a 500-fax drain) and every batch is written into fresh pages; given back once
    clean, the next batch reuses them. Measured in a drain: 0.07-0.13 ms of the writer
    thread's CPU per 74 KiB message before, 0.016-0.020 ms after (docs/bench.md, "Fifth
    pass"). PostgreSQL does the same when it closes a WAL segment (`XLogFileClose` in
    src/backend/access/transam/xlog.c: "WAL segment files will not be re-read in normal
    operation, so we advise the OS to release any cached pages"). Only clean pages go, so
    it comes after the fsync; it never loses data, it only frees memory.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        with contextlib.suppress(OSError):  # advice only: a file system may decline it
            advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def open_private(path: Path, flags: int) -> int:
    """`os.open` that creates the file 0600 (and tightens an existing one); returns the fd."""
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != PRIVATE_FILE:
            os.fchmod(fd, PRIVATE_FILE)
    except OSError:
        os.close(fd)
        raise
    return fd


def write_private(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Replace `path` with `data`, atomically (temporary file, rename), mode 0600.

    With `sync` (the default) the data is on disk before the rename; a file rebuilt at every
    start (the trust bundle) can skip that.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
