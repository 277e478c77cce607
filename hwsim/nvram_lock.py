"""One device per NVRAM folder: an exclusive lock held while the device runs.

Two devices on one folder would each believe they own the job counter, the spool and the
token records, and would overwrite each other's state. A real MFP cannot boot twice from one
flash; the simulator enforces the same with `fcntl.flock` on `<nvram>/device.lock`:

- taken before anything in the folder is read or written, without waiting (LOCK_NB): a
  second device, in this process or another, is refused at once with the folder and the pid
  written in the lock file by the holder;
- released by `release()` (the device's stop), and by the kernel when the holding process
  dies, however it dies: a lock never outlives its process, so there is no stale lock to
  clean up after a power cut or a SIGKILL.

flock locks belong to the open file, so a second open in the same process conflicts too;
`release()` unlocks explicitly before closing, so a forked child that inherited the open file
does not keep the lock alive.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import NvramError, NvramInUse
from .private import open_private, private_dir

__all__ = ["NvramLock"]


class NvramLock:
    FILENAME = "device.lock"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / self.FILENAME
        try:
            private_dir(self.directory)
            fd = open_private(self.path, os.O_RDWR)
        except OSError as exc:
            raise NvramError(f"cannot lock the NVRAM folder {self.directory}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise NvramInUse(
                f"the NVRAM folder {self.directory.resolve()} is in use by another running "
                f"device ({holder}): one device per NVRAM folder; stop that device first, "
                "or give this one another folder") from None
        except OSError as exc:
            os.close(fd)
            raise NvramError(f"cannot lock the NVRAM folder {self.directory}: {exc}") from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # the pid is only a hint for the refusal message; the lock itself holds
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Let another device use the folder. Safe to call more than once."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)


def _holder(fd: int) -> str:
    """Who holds the lock, from the pid it wrote (it may not have written it yet)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    if not text.isdigit():
        return "pid unknown"
    pid = int(text)
    return f"pid {pid}, this process" if pid == os.getpid() else f"pid {pid}"
