"""The few headers the receive path reads from a message: From, Subject and Message-ID.

The POP session reads them for every message it receives, on the event loop, so it does not
run a header parser: one regular expression finds each header in the header block only (a
fax body is about 1,000 base64 lines a parser would walk for nothing), and RFC 2047 words are
decoded only when a value has some. Values are unfolded and bounded (they go into events, the
console's `mail log` and log lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.header import decode_header, make_header

__all__ = ["Headers", "message_headers", "message_id"]

#: Longest header value kept (characters).
MAX_VALUE = 200


@dataclass(frozen=True)
class Headers:
    """What the receive path tells about a message: who sent it, what it is about, its id."""

    sender: str
    subject: str
    message_id: str


def _header(name: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"^" + name + rb"[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


_FROM, _SUBJECT, _MESSAGE_ID = _header(rb"from"), _header(rb"subject"), _header(rb"message-id")


def message_headers(raw: bytes) -> Headers:
    """From, Subject and Message-ID; "" for a header that is missing."""
    head = _head(raw)
    return Headers(_find(_FROM, head), _find(_SUBJECT, head), _find(_MESSAGE_ID, head))


def message_id(raw: bytes) -> str:
    """The Message-ID as the ledger keys it ("" without one)."""
    return _find(_MESSAGE_ID, _head(raw))


def _find(pattern: re.Pattern[bytes], head: bytes) -> str:
    found = pattern.search(head)
    if found is None:
        return ""
    return _header_text(found[1].decode("utf-8", "replace"))


def _head(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    return raw if end < 0 else raw[: end + 2]


def _header_text(value: str) -> str:
    """A header value decoded (RFC 2047 words), unfolded, bounded, printable."""
    try:
        text = str(make_header(decode_header(value))) if "=?" in value else value
    except (ValueError, LookupError, UnicodeError):
        text = value
    return " ".join(text.split())[:MAX_VALUE]
