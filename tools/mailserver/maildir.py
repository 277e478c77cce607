"""Mail storage for the bench: one stdlib Maildir per address, shared by SMTP and POP3.

Maildir is what real servers (Dovecot, Postfix's local delivery) use, and any test can open
`maildir_root/<address>/` with `mailbox.Maildir` to see what the device sent, with no server in
between. Messages are stored with LF line ends (the Maildir convention) and served with CRLF.

POP3 needs three things the stdlib does not give: a delivery order (Maildir keys sort as
strings, so `Q10` would come before `Q9`), unique ids that fit RFC 1939's UIDL rules (1-70
printable characters), and one lock per mailbox so a second session gets `[IN-USE]`.
"""

from __future__ import annotations

import hashlib
import mailbox
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["InvalidAddress", "MailStore", "StoredMessage", "normalise_address"]

_ADDRESS = re.compile(r"^[a-z0-9_%+\-]+(\.[a-z0-9_%+\-]+)*@[a-z0-9\-]+(\.[a-z0-9\-]+)+$")
# Maildir keys look like "1800000000.M123456P4242Q17.host": time, microseconds, pid, counter.
_KEY = re.compile(r"^(\d+)\.M(\d+)P(\d+)Q(\d+)\.")


class InvalidAddress(ValueError):
    """An address that cannot name a mailbox directory (no path tricks, plain ASCII only)."""


def normalise_address(address: str) -> str:
    """Lower-case `address` and check it is safe to use as a directory name."""
    cleaned = address.strip().strip("<>").lower()
    if not _ADDRESS.match(cleaned) or len(cleaned) > 254:
        raise InvalidAddress(f"not a mailbox address: {address!r}")
    return cleaned


def _delivery_order(key: str) -> tuple[int, int, int, int, str]:
    m = _KEY.match(key)
    if m is None:
        return (2**63, 0, 0, 0, key)
    seconds, micros, pid, counter = (int(g) for g in m.groups())
    return (seconds, micros, pid, counter, key)


@dataclass(frozen=True)
class StoredMessage:
    """One message as a POP3 session sees it at login time."""

    key: str  # the Maildir key
    uid: str  # UIDL value: stable, 40 hex digits
    size: int  # octets as sent on the wire (CRLF line ends, before dot-stuffing)


class MailStore:
    """All mailboxes of one bench mail server, under `root/<address>/`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._locked: set[str] = set()
        self._boxes: dict[str, mailbox.Maildir] = {}

    def maildir(self, address: str) -> mailbox.Maildir:
        """The Maildir of `address`, created on first use.

        One object per address is kept: a fresh `Maildir` re-lists its directories on every
        lookup, which makes draining a 1,000-message mailbox quadratic.
        """
        name = normalise_address(address)
        box = self._boxes.get(name)
        if box is None:
            box = self._boxes[name] = mailbox.Maildir(self.root / name, create=True)
        return box

    def deliver(self, address: str, content: bytes) -> str:
        """Store `content` (any line ends) for `address`; returns the Maildir key."""
        lf = content.replace(b"\r\n", b"\n")
        if not lf.endswith(b"\n"):
            lf += b"\n"
        return self.maildir(address).add(lf)

    def snapshot(self, address: str) -> list[StoredMessage]:
        """The messages in the mailbox now, oldest first, with wire sizes."""
        box = self.maildir(address)
        result = []
        for key in sorted(box.keys(), key=_delivery_order):
            try:
                data = box.get_bytes(key)
            except KeyError:  # removed by someone else meanwhile
                continue
            size = len(data) + data.count(b"\n")  # every LF goes out as CRLF
            uid = hashlib.sha1(key.encode()).hexdigest()
            result.append(StoredMessage(key=key, uid=uid, size=size))
        return result

    def read(self, address: str, key: str) -> bytes:
        """The message with CRLF line ends, as POP3 sends it (before dot-stuffing)."""
        return self.maildir(address).get_bytes(key).replace(b"\n", b"\r\n")

    def remove(self, address: str, keys: list[str]) -> int:
        """Delete `keys`; returns how many could not be removed (already gone counts as done)."""
        box = self.maildir(address)
        failed = 0
        for key in keys:
            try:
                box.discard(key)
            except OSError:
                failed += 1
        return failed

    def count(self, address: str) -> int:
        return len(self.maildir(address).keys())

    # One POP3 session per mailbox (RFC 1939 §8: the server should lock the maildrop).
    def try_lock(self, address: str) -> bool:
        name = normalise_address(address)
        if name in self._locked:
            return False
        self._locked.add(name)
        return True

    def unlock(self, address: str) -> None:
        self._locked.discard(normalise_address(address))

    def is_locked(self, address: str) -> bool:
        return normalise_address(address) in self._locked
