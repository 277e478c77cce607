"""Where a POP3 multi-line reply ends, and how many dots were stuffed into it (RFC 1939 §3).

A multi-line reply (RETR, TOP, UIDL, LIST, CAPA) ends at a line holding one dot; any other line
that starts with a dot got one more from the server. The client (`client.py`) keeps what it
has read in one buffer and asks these functions, once per read, where the end is; they look
only at bytes not looked at before, so a reply cut into many reads costs one pass.
"""

from __future__ import annotations

__all__ = ["DOT_BUDGET", "body_end", "last_line", "scan_body"]

#: Dots one scan of a read looks at one by one before it searches for the end string instead.
DOT_BUDGET = 64


def scan_body(buf: bytearray, start: int, dots: int) -> tuple[int, int, int]:
    """Look for the end of a multi-line body in `buf[start:]` (`start` >= 1, at or after the
    body's first byte); `dots` is the count of line-leading dots in `buf[:start]`.

    Returns (index of the LF that ends the body's last line or -1, where the next scan starts,
    line-leading dots before that point; -1 once they were not counted because the end was
    found by the string search). The end is a line-leading dot followed by CRLF or LF; every
    other line-leading dot is a stuffed one.

    A body is mostly dot-free (a fax is base64, which has no dot), so the scan jumps from dot
    to dot (`find` of one byte is memchr) and classifies each: one pass over the bytes, not
    the two searches for `LF.CRLF` and `LF.LF` and a count of `LF.` it replaces (those
    substring searches are several times slower per byte). A body dense with dots (prose)
    would make that a Python loop per dot, so after `DOT_BUDGET` dots the rest of the read
    is searched as before. A dot whose next bytes have not arrived yet ends the scan there:
    the next scan starts at that dot again.
    """
    at = buf.find(b".", start)
    budget = DOT_BUDGET
    while at >= 0:
        if buf[at - 1] == 0x0A:  # line-leading
            after = buf[at + 1 : at + 3]
            if after == b"\r\n" or after[:1] == b"\n":
                return at - 1, at, dots
            if after == b"" or after == b"\r":  # the rest of this line has not arrived
                return -1, at, dots
            dots += 1
        budget -= 1
        if not budget:
            return _search(buf, at + 1, dots)
        at = buf.find(b".", at + 1)
    return -1, len(buf), dots


def _search(buf: bytearray, start: int, dots: int) -> tuple[int, int, int]:
    """`scan_body` for a body dense with dots: substring searches for the end, then a count."""
    crlf = buf.find(b"\n.\r\n", start - 1)
    lf = buf.find(b"\n.\n", start - 1, crlf + 3 if crlf >= 0 else len(buf))
    end = lf if lf >= 0 else crlf
    if end >= 0:
        return end, end + 1, -1
    stop = len(buf)  # a line-leading dot at the very end may be the end arriving
    if buf.endswith(b"\n.") or buf.endswith(b"\n.\r"):
        stop = buf.rfind(b".")
    return -1, max(stop, start), dots + buf.count(b"\n.", start - 1, stop)


def body_end(buf: bytearray, start: int) -> int:
    """Index of the LF that ends the body's last line (`LF.CRLF` or `LF.LF`), or -1."""
    return scan_body(buf, max(1, start), 0)[0]


def last_line(buf: bytearray) -> bytes:
    """The unfinished line at the end of `buf` (for "closed the connection after ...")."""
    cut = buf.rfind(b"\n")
    return bytes(buf[cut + 1 : cut + 1 + 120])
