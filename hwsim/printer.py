"""The output tray: every printed document lands as a file in one folder.

Files are named `<job-id>-<name>.<ext>`, as ippeveprinter does, so a person (or a test) finds
a job's output by its id. Names come from e-mail attachments and panels, so they are
untrusted: only `[A-Za-z0-9._-]` survives, and a name can never leave the folder. A file is
written under a temporary name and renamed into place, so nobody watching the folder sees
half a document; an existing file is never replaced: the new one gets `-2`, `-3`, ...
A job that is printed again after a power cut (`keep_existing`) keeps the files it already
has under their exact names and writes only the missing ones, so it never comes out twice.

The tray orders its contents by a counter (the order in which it first saw each file), not by
file times: the device's clock may be virtual, and two files written in the same tick must
still come out in the order they were printed.

The tray alone reads its own file names: `has(job_id)` says whether a job has output in the
tray (from an index kept in memory: the folder is read at power-on, and each file printed
since is added), so a caller never parses `<job-id>-…` names; `sync(paths)` makes printed
files durable (the files, then the folder) before a caller forgets the job's input.
"""

from __future__ import annotations

import builtins
import io
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from mfp_sim.hwsim.errors import TrayError
from mfp_sim.hwsim.private import fsync_path, private_dir

__all__ = ["OutputTray", "TrayItem", "sanitize_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_EXTENSION = re.compile(r"[a-z0-9]{1,10}")
_MAX_NAME = 100
_TEMP_PREFIX = ".tray-"

# One lock for every tray in the process: two trays may share a folder, and choosing a free
# name and renaming into it must happen as one step.
_NAMING = threading.Lock()


@dataclass(frozen=True)
class TrayItem:
    """One document in the tray. `seq` grows in the order the tray first saw the file."""

    name: str
    size: int
    seq: int
    path: Path


def sanitize_name(name: str, *, default: str = "document") -> str:
    """Make `name` safe as part of a file name: `[A-Za-z0-9._-]` only, never hidden, bounded.

    Leading dots and dashes are dropped so the result is neither a hidden file, nor `..`,
    nor something a shell takes for an option.
    """
    cleaned = _UNSAFE.sub("_", name).lstrip(".-")[:_MAX_NAME]
    return cleaned or default


class OutputTray:
    """The simulated printer's output: a folder of `<job-id>-<name>.<ext>` files."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        try:
            private_dir(self.folder)  # 0700: printed mail is for the device's user only
        except NotADirectoryError as exc:
            raise TrayError(f"output tray {self.folder} is not a folder") from exc
        except OSError as exc:
            raise TrayError(f"output tray folder {self.folder} cannot be created: {exc}") from exc
        self._seen: dict[str, int] = {}
        self._counter = 0
        self._jobs: set[str] = set()  # job ids with output here (see `has`)
        # Files already in the folder come first, in name order.
        self._scan()

    def print_document(
        self, job_id: str, name: str, data: bytes, ext: str, *, keep_existing: bool = False
    ) -> Path:
        """Store one document; returns the path of the new file.

        With `keep_existing`, a file already named exactly `<job-id>-<name>.<ext>` is taken as
        this document, printed before (a job resumed after a power cut), and kept as it is.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TrayError(f"document data must be bytes, not {type(data).__name__}")
        extension = ext.lower().lstrip(".")
        if not _EXTENSION.fullmatch(extension):
            raise TrayError(f"file extension {ext!r} is not allowed: use 1 to 10 letters or digits")
        stem = f"{sanitize_name(job_id, default='job')}-{sanitize_name(name)}"
        if keep_existing:
            done = self._existing(stem, extension)
            if done is not None:
                return done
        path = self._write(stem, extension, bytes(data))
        self._jobs.add(sanitize_name(job_id, default="job"))
        return path

    def print_pages(
        self, job_id: str, name: str, images: Sequence[Image.Image], *, keep_existing: bool = False
    ) -> list[Path]:
        """Store each page as `<job-id>-<name>-p<k>.png`; returns the paths in page order.

        With `keep_existing`, pages already in the tray under their exact names are kept and
        only the missing ones printed (a multi-page job cut short by a power cut).
        """
        if not images:
            raise TrayError("nothing to print: no pages")
        paths: list[Path] = []
        for number, image in enumerate(images, start=1):
            done = self.printed_page(job_id, name, number) if keep_existing else None
            paths.append(done if done is not None else self.print_page(job_id, name, number,
                                                                         image))
        return paths

    def printed_page(self, job_id: str, name: str, number: int) -> Path | None:
        """Page `number` of a job, if it is in the tray already (printed before a power cut)."""
        return self._existing(f"{sanitize_name(job_id, default='job')}-{_page(name, number)}",
                              "png")

    def print_page(self, job_id: str, name: str, number: int, image: Image.Image) -> Path:
        """Store one page as `<job-id>-<name>-p<number>.png` (a long job, a page at a time)."""
        buffer = io.BytesIO()
        dpi = image.info.get("dpi")
        try:
            if dpi:
                image.save(buffer, format="PNG", dpi=dpi)
            else:
                image.save(buffer, format="PNG")
        except (OSError, ValueError) as exc:
            raise TrayError(f"page {number} cannot be printed: {exc}") from exc
        return self.print_document(job_id, _page(name, number), buffer.getvalue(), "png")

    def has(self, job_id: str) -> bool:
        """True when the tray holds output of `job_id` (printed by this tray, or found at
        power-on); the memory index answers, the folder is not read.

        Read back from the folder, `a-b-name.png` counts for jobs `a` and `a-b` (a job id may
        hold a '-'); the device's receive ids hold none.
        """
        return sanitize_name(job_id, default="job") in self._jobs

    def sync(self, paths: Sequence[Path]) -> None:
        """Make printed files durable: each file, then the tray folder (one fsync each)."""
        try:
            for path in paths:
                fsync_path(path)
            fsync_path(self.folder)
        except OSError as exc:
            raise TrayError(f"output tray {self.folder} cannot be synced: {exc}") from exc

    def list(self) -> builtins.list[TrayItem]:
        """The documents in the tray, oldest first."""
        items: builtins.list[TrayItem] = []
        for name, seq in self._scan().items():
            path = self.folder / name
            try:
                size = path.stat().st_size
            except FileNotFoundError:  # taken out of the tray meanwhile
                continue
            items.append(TrayItem(name=name, size=size, seq=seq, path=path))
        items.sort(key=lambda item: item.seq)
        return items

    # -- internals ---------------------------------------------------------------------

    def _scan(self) -> dict[str, int]:
        """Give every file not seen before the next sequence number, in name order."""
        try:
            names = sorted(
                entry.name
                for entry in os.scandir(self.folder)
                if entry.is_file() and not entry.name.startswith(".")
            )
        except OSError as exc:
            raise TrayError(f"output tray {self.folder} cannot be read: {exc}") from exc
        present: dict[str, int] = {}
        for name in names:
            if name not in self._seen:
                self._counter += 1
                self._seen[name] = self._counter
                self._jobs.update(_job_ids(name))
            present[name] = self._seen[name]
        return present

    def _write(self, stem: str, extension: str, data: bytes) -> Path:
        temp: Path | None = None
        try:
            with tempfile.NamedTemporaryFile(
                dir=self.folder, prefix=_TEMP_PREFIX, suffix=".part", delete=False
            ) as handle:
                temp = Path(handle.name)
                handle.write(data)
            with _NAMING:
                target = self._free_name(stem, extension)
                os.replace(temp, target)
                self._counter += 1
                self._seen[target.name] = self._counter
        except OSError as exc:
            if temp is not None:
                temp.unlink(missing_ok=True)
            raise TrayError(f"document cannot be written to {self.folder}: {exc}") from exc
        return target

    def _existing(self, stem: str, extension: str) -> Path | None:
        path = self.folder / f"{stem}.{extension}"
        return path if path.is_file() else None

    def _free_name(self, stem: str, extension: str) -> Path:
        candidate = self.folder / f"{stem}.{extension}"
        copy = 1
        while candidate.exists() or candidate.is_symlink():
            copy += 1
            candidate = self.folder / f"{stem}-{copy}.{extension}"
        # The name is built from sanitised parts only; this guards against a future change.
        if candidate.parent != self.folder or candidate.name.startswith("."):
            raise TrayError(f"refusing to write outside the tray: {candidate.name!r}")
        return candidate


def _page(name: str, number: int) -> str:
    return f"{sanitize_name(name)[: _MAX_NAME - 6]}-p{number}"


def _job_ids(name: str) -> builtins.list[str]:
    """The job ids a file `<job-id>-<name>.<ext>` may belong to (a job id may hold a '-')."""
    stem = name.rsplit(".", 1)[0]
    return [stem[:i] for i, c in enumerate(stem) if c == "-" and i]


