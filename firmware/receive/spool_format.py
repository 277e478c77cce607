"""The receive spool's files, byte by byte: batch files, names, and the system calls they take.

The layout and its guarantees are described in `spool.py`; this module only writes and reads
it, so that the spool's logic (what is stored, what is done) reads apart from the bytes:

    MFP-SPOOL-BATCH 1 <count>\\n
    <seq> <rx-id> <size> <uidl>\\n      `count` lines, in the order of the bodies
    <message 1: size bytes><message 2: size bytes>...

`read_index` reads the index only (the bodies are read one at a time when printed, at their
offsets) and raises `SpoolError` with what is wrong when the index cannot be understood.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

from mfp_sim.hwsim.private import fsync_path

from ..vocabulary import ReceiveKind
from .errors import SpoolError

__all__ = ["BATCH_SUFFIX", "MARKS", "UIDL_HEADER", "batch_head", "read_index",
           "rewrite", "rx_id", "uid_text", "write_all"]

BATCH_SUFFIX = ".batch"
MARKS = "marks"
#: The first line of a message file of the former format (one file per message).
UIDL_HEADER = b"X-MFP-UIDL: "

_MAGIC = b"MFP-SPOOL-BATCH 1 "
_MAX_LINE = 1024  # an index line: seq, rx id, size and a UIDL (at most 70 characters)
_MAX_COUNT = 100_000
_IOV_MAX = 1024
_RX = re.compile(rb"[A-Za-z0-9]{1,40}")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def rx_id(section: str, kind: ReceiveKind, uid: str) -> str:
    """The spool and tray name of a received message: the same for the same message, always."""
    digest = hashlib.sha1(f"{section}\0{uid}".encode()).hexdigest()[:12]
    return f"{kind.value}{digest}"


def uid_text(uid: str) -> str:
    """The UIDL as the spool keeps it: printable ASCII (RFC 1939 allows 0x21-0x7E only; a
    server sending other bytes gets them replaced by `?`, as the former format did)."""
    return uid if uid.isascii() and uid.isprintable() else _UNPRINTABLE.sub("?", uid)


def batch_head(records: Sequence[tuple[int, str, int, str]]) -> bytes:
    """The index of a batch file: (seq, rx id, size, UIDL) per message, in body order."""
    lines = [b"%s%d\n" % (_MAGIC, len(records))]
    lines += [b"%d %s %d %s\n" % (seq, rx.encode(), size, uid.encode())
              for seq, rx, size, uid in records]
    return b"".join(lines)


def read_index(path: Path) -> tuple[list[tuple[int, str, int, int, str]], int]:
    """([(seq, rx id, offset, size, UIDL)], the file's size in bytes)."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            first = file.readline(_MAX_LINE)
            count = first[len(_MAGIC):-1]
            if not (first.startswith(_MAGIC) and first.endswith(b"\n") and count.isdigit()
                    and 0 < int(count) <= _MAX_COUNT):
                raise SpoolError(f"{path.name} is not a spool batch file (no index line)")
            rows: list[tuple[int, bytes, int, bytes]] = []
            for _ in range(int(count)):
                words = file.readline(_MAX_LINE).split(b" ", 3)
                if not (len(words) == 4 and words[0].isdigit() and _RX.fullmatch(words[1])
                        and words[2].isdigit() and words[3].endswith(b"\n")):
                    raise SpoolError(f"{path.name}: its index is cut short or garbled at "
                                     f"entry {len(rows) + 1} of {int(count)}")
                rows.append((int(words[0]), words[1], int(words[2]), words[3][:-1]))
            offset = file.tell()
    except OSError as exc:
        raise SpoolError(f"{path.name} cannot be read: {exc}") from exc
    records = []
    for seq, rx, length, uid in rows:
        records.append((seq, rx.decode(), offset, length, uid.decode("ascii", "replace")))
        offset += length
    return records, size


def write_all(fd: int, buffers: Sequence[bytes]) -> None:
    """Write every buffer, in order (writev, its partial writes continued)."""
    views = [memoryview(b) for b in buffers if b]
    while views:
        written = os.writev(fd, views[:_IOV_MAX])
        if written <= 0:
            raise OSError("writev wrote nothing")
        while views and written >= len(views[0]):
            written -= len(views.pop(0))
        if written:
            views[0] = views[0][written:]


def rewrite(path: Path, data: bytes) -> None:
    """Replace a file atomically and durably: `.<name>.part`, fsync, rename, folder fsync."""
    part = path.with_name(f".{path.name}.part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(fd, [data])
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part, path)
    fsync_path(path.parent)
