"""What one POP receiver has already handled, kept in NVRAM so nothing is printed twice.

Two indexes per POP setting:

    rx.<section>.u.<hash of UIDL>         a message this receiver has handled (spooled for
                                          printing, printed, recognised as a duplicate,
                                          refused, too large): {"uid", "mid", "outcome", "at"}
    rx.<section>.m.<hash of Message-ID>   a message it spooled (to print), by Message-ID: {"at"}

The UIDL index is what makes `leave_copy` safe: a message left on the server is seen again at
every poll and skipped. It is pruned to the UIDLs the server still lists, so it never grows
beyond the mailbox. The Message-ID index catches the other duplicate: the same message
delivered twice (a sender that resent after a power cut, as this device's own job queue may),
under two UIDLs. It is kept for `MESSAGE_ID_DAYS` days of device time.

**Read once, kept in memory.** Both indexes are read from NVRAM once, at power-on (`load`,
off the event loop), into memory: a poll asks about every message on the server, and reading
and parsing 5,000 records at each poll cost more than the rest of the poll. In memory, the
UIDL index is keyed by the UIDL itself (no hashing per message per poll) and the Message-ID
index is kept with a queue in the order of recording, so expiring 30-day-old Message-IDs
walks only the expired ones (`prune`), not the whole index. NVRAM is written only when
something changes: a batch recorded, a refusal, stale entries removed (one transaction each).

Entries are written in batches, one NVRAM transaction each, after the batch is durable in the
receive spool and before the batch's DELE commands go out; the POP session's check of the
spool and the tray (`has`) covers the instant between storing and that write. A message the
print worker refuses later is re-recorded as `refused` and its Message-ID forgotten
(`refused`), so a copy sent again is refused again, with its alert, rather than silently taken
for a duplicate. The print worker's thread and the event loop both use the ledger, hence the
lock.
"""

from __future__ import annotations

import collections
import hashlib
import json
import threading
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
        self._u = f"rx.{section}.u."
        self._m = f"rx.{section}.m."
        self._lock = threading.Lock()
        self._loaded = False
        self._uids: dict[str, Outcome] = {}  # UIDL -> outcome
        self._damaged: set[str] = set()  # hashes of UIDLs whose record does not parse
        self._mids: dict[str, float] = {}  # hash of Message-ID -> when recorded
        self._mid_order: collections.deque[tuple[float, str]] = collections.deque()

    # ----------------------------------------------------------------- reading
    def load(self) -> None:
        """Read both indexes from NVRAM (once; power-on calls it in a worker thread)."""
        with self._lock:
            if self._loaded:
                return
            for key, blob in self._nvram.read_prefix(self._u).items():
                try:
                    record = json.loads(blob)
                    self._uids[str(record["uid"])] = Outcome(record["outcome"])
                except (ValueError, KeyError, TypeError):  # damaged: handled, outcome unknown
                    self._damaged.add(key[len(self._u):])
            order: list[tuple[float, str]] = []
            for key, blob in self._nvram.read_prefix(self._m).items():
                try:
                    at = float(json.loads(blob)["at"])
                except (ValueError, KeyError, TypeError):
                    at = 0.0  # damaged: expires at the next prune
                self._mids[key[len(self._m):]] = at
                order.append((at, key[len(self._m):]))
            order.sort()
            self._mid_order.extend(order)
            self._loaded = True

    def has_uid(self, uid: str) -> bool:
        self.load()
        return uid in self._uids or (bool(self._damaged) and digest(uid) in self._damaged)

    def outcome(self, uid: str) -> Outcome | None:
        """What became of a handled message (None: not handled; a damaged record: spooled)."""
        self.load()
        found = self._uids.get(uid)
        if found is None and self._damaged and digest(uid) in self._damaged:
            return Outcome.SPOOLED
        return found

    def outcomes(self, uids: Iterable[str]) -> dict[str, Outcome]:
        """What became of each of `uids` that this receiver has handled (the others are not
        in the answer; a damaged record: spooled), in one look under the lock.

        A poll asks this of the whole listing at once: asked one UIDL at a time, as
        `has_uid` does, a quiet poll of a 5,000-message mailbox spent several milliseconds
        on the calls and the lock alone (docs/bench.md, "Fifth pass").
        """
        self.load()
        with self._lock:
            known = self._uids
            found = {uid: known[uid] for uid in uids if uid in known}
            if self._damaged:
                found |= {uid: Outcome.SPOOLED for uid in uids
                          if uid not in found and digest(uid) in self._damaged}
        return found

    def has_message_id(self, message_id: str) -> bool:
        self.load()
        return bool(message_id) and digest(message_id) in self._mids

    # ----------------------------------------------------------------- writing
    def record(self, entries: Iterable[Handled]) -> None:
        """Write a batch of handled messages in one transaction."""
        self.load()
        values: dict[str, bytes | None] = {}
        mids: list[tuple[float, str]] = []
        handled = list(entries)
        for e in handled:
            values[self._u + digest(e.uid)] = _record(e.uid, e.message_id, e.outcome, e.at)
            if e.message_id and e.outcome in (Outcome.SPOOLED, Outcome.PRINTED):
                key = digest(e.message_id)
                values[self._m + key] = json.dumps({"at": e.at}).encode()
                mids.append((e.at, key))
        if not values:
            return
        self._nvram.write_many(values)
        with self._lock:
            for e in handled:
                self._uids[e.uid] = e.outcome
                self._damaged.discard(digest(e.uid))
            for at, key in mids:
                self._mids[key] = at
                self._mid_order.append((at, key))

    def refused(self, uid: str, message_id: str, at: float) -> None:
        """The print worker refused a spooled message: record it so, in one transaction."""
        self.load()
        values: dict[str, bytes | None] = {
            self._u + digest(uid): _record(uid, message_id, Outcome.REFUSED, at)}
        if message_id:
            values[self._m + digest(message_id)] = None
        self._nvram.write_many(values)
        with self._lock:
            self._uids[uid] = Outcome.REFUSED
            self._damaged.discard(digest(uid))
            if message_id:
                self._mids.pop(digest(message_id), None)

    def prune(self, uids_on_server: Iterable[str], now: float) -> int:
        """Forget UIDLs the server no longer lists and Message-IDs past their age.

        Only what is stale is touched: the UIDLs are compared in memory, and the Message-IDs
        leave the front of their queue (oldest first) until one is young enough.
        """
        self.load()
        on_server = set(uids_on_server)
        limit = now - MESSAGE_ID_DAYS * 86400
        with self._lock:
            stale_uids = [u for u in self._uids if u not in on_server]
            if self._damaged:
                stale_damaged = self._damaged - {digest(u) for u in on_server}
            else:
                stale_damaged = set()
            stale_mids: list[str] = []
            while self._mid_order and self._mid_order[0][0] < limit:
                at, key = self._mid_order.popleft()
                if self._mids.get(key) == at:  # not recorded again since, nor forgotten
                    stale_mids.append(key)
        if not stale_uids and not stale_mids and not stale_damaged:
            return 0
        values: dict[str, bytes | None] = {self._u + digest(u): None for u in stale_uids}
        values.update((self._u + key, None) for key in stale_damaged)
        values.update((self._m + key, None) for key in stale_mids)
        self._nvram.write_many(values)
        with self._lock:
            for u in stale_uids:
                self._uids.pop(u, None)
            for key in stale_mids:
                self._mids.pop(key, None)
            self._damaged -= stale_damaged
        return len(values)


def _record(uid: str, message_id: str, outcome: Outcome, at: float) -> bytes:
    return json.dumps({"uid": uid, "mid": message_id, "outcome": outcome, "at": at},
                      separators=(",", ":")).encode()
