"""What one POP receiver has already handled, kept in NVRAM so nothing is printed twice.

Two indexes per POP setting:

    rx.<section>.u.<hash of UIDL>         a message this receiver has handled (spooled for
                                          printing, printed, recognised as a duplicate, or
                                          refused)
    rx.<section>.m.<hash of Message-ID>   a message it spooled (to print), by Message-ID

The UIDL index is what makes `leave_copy` safe: a message left on the server is seen again at
every poll and skipped. It is pruned to the UIDLs the server still lists, so it never grows
beyond the mailbox. The Message-ID index catches the other duplicate: the same message
delivered twice (a sender that resent after a power cut, as this device's own job queue may),
under two UIDLs. It is kept for `MESSAGE_ID_DAYS` days of device time.

Entries are written in batches, one NVRAM transaction each, after the batch is durable in the
receive spool and before the batch's DELE commands go out; The POP session's check of the spool
and the tray (`has`) covers the instant between storing and that write. A message the print worker
refuses later is re-recorded as `refused` and its Message-ID forgotten (`refused`), so a copy
sent again is refused again, with its alert, rather than silently taken for a duplicate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from mfp_sim.hwsim.nvram import Nvram

from ..vocabulary import Outcome

__all__ = ["MESSAGE_ID_DAYS", "Handled", "ReceiveLedger", "digest"]

#: How long a printed Message-ID is remembered (device time).
MESSAGE_ID_DAYS = 30


def digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:20]


@dataclass(frozen=True)
class Handled:
    """One handled message, as recorded."""

    uid: str
    message_id: str
    outcome: Outcome
    at: float


class ReceiveLedger:
    def __init__(self, nvram: Nvram, section: str) -> None:
        self._nvram = nvram
        self._uids = f"rx.{section}.u."
        self._mids = f"rx.{section}.m."
        # Both indexes are kept in memory too (read once): a poll asks about every message.
        self._seen_uids: set[str] | None = None
        self._seen_mids: set[str] | None = None

    def _load_uids(self) -> set[str]:
        if self._seen_uids is None:
            self._seen_uids = {k[len(self._uids):] for k in self._nvram.read_prefix(self._uids)}
        return self._seen_uids

    def _load_mids(self) -> set[str]:
        if self._seen_mids is None:
            self._seen_mids = {k[len(self._mids):] for k in self._nvram.read_prefix(self._mids)}
        return self._seen_mids

    def has_uid(self, uid: str) -> bool:
        return digest(uid) in self._load_uids()

    def outcome(self, uid: str) -> Outcome | None:
        """What became of a handled message (None: not handled; a damaged record: spooled)."""
        blob = self._nvram.read(self._uids + digest(uid))
        if blob is None:
            return None
        try:
            return Outcome(json.loads(blob)["outcome"])
        except (ValueError, KeyError, TypeError):
            return Outcome.SPOOLED

    def has_message_id(self, message_id: str) -> bool:
        return bool(message_id) and digest(message_id) in self._load_mids()

    def record(self, entries: Iterable[Handled]) -> None:
        """Write a batch of handled messages in one transaction."""
        values: dict[str, bytes | None] = {}
        for e in entries:
            record = json.dumps({"uid": e.uid, "mid": e.message_id, "outcome": e.outcome,
                                 "at": e.at}, separators=(",", ":")).encode()
            values[self._uids + digest(e.uid)] = record
            if e.message_id and e.outcome in (Outcome.SPOOLED, Outcome.PRINTED):
                values[self._mids + digest(e.message_id)] = json.dumps({"at": e.at}).encode()
        if values:
            self._nvram.write_many(values)
            self._load_uids().update(_suffixes(values, self._uids))
            self._load_mids().update(_suffixes(values, self._mids))

    def refused(self, uid: str, message_id: str, at: float) -> None:
        """The print worker refused a spooled message: record it so, in one transaction."""
        record = json.dumps({"uid": uid, "mid": message_id, "outcome": Outcome.REFUSED, "at": at},
                            separators=(",", ":")).encode()
        values: dict[str, bytes | None] = {self._uids + digest(uid): record}
        if message_id:
            values[self._mids + digest(message_id)] = None
        self._nvram.write_many(values)
        self._load_uids().add(digest(uid))
        if message_id:
            self._load_mids().discard(digest(message_id))

    def prune(self, uids_on_server: Iterable[str], now: float) -> int:
        """Forget UIDLs the server no longer lists and Message-IDs past their age."""
        keep = {digest(u) for u in uids_on_server}
        stale = [self._uids + h for h in self._load_uids() - keep]
        limit = now - MESSAGE_ID_DAYS * 86400
        for key, blob in self._nvram.read_prefix(self._mids).items():
            try:
                at = float(json.loads(blob)["at"])
            except (ValueError, KeyError, TypeError):
                at = 0.0
            if at < limit:
                stale.append(key)
        if stale:
            self._nvram.write_many(dict.fromkeys(stale))
            self._seen_uids = self._load_uids() - _suffixes(stale, self._uids)
            self._seen_mids = self._load_mids() - _suffixes(stale, self._mids)
        return len(stale)


def _suffixes(keys: Iterable[str], prefix: str) -> set[str]:
    return {k[len(prefix):] for k in keys if k.startswith(prefix)}
