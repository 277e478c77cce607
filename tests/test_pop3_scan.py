"""The POP3 client's multi-line reader against a plain reference, for any body and any cut.

`Pop3Client._multiline` finds the end of a body by jumping from dot to dot, and falls back to
substring searches when a read holds many dots (issue 9: the drain's per-message cost). What a
user relies on is only the result: the body exactly as sent before dot-stuffing, and the bytes
after the end left for the next reply, however the server's writes are cut. These properties
compare it with the rule of RFC 1939 §3 written out line by line.
"""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfp_sim.firmware.pop3 import Pop3Client, Pop3TooLarge, Security, multiline


class _Chunks:
    """Stands in for the stream: each read hands over the next piece the server wrote."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def read(self, _size: int) -> bytes:
        return self.pieces.pop(0) if self.pieces else b""


def _read(wire: bytes, cuts: list[int], **kw: int) -> tuple[bytes, bytes]:
    """(the body the client returns, what it leaves in its buffer) for `wire` cut at `cuts`."""
    points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    pieces = [wire[a:b] for a, b in itertools.pairwise(points) if b > a]
    pop = Pop3Client("127.0.0.1", 110, security=Security.OFF, **kw)
    pop._reader = _Chunks(pieces)  # type: ignore[assignment]
    body = asyncio.run(pop._multiline())
    rest = bytes(pop._buffer) + b"".join(pop._reader.pieces)  # type: ignore[union-attr]
    return body, rest


def _stuffed(lines: list[bytes]) -> bytes:
    """RFC 1939 §3: a line that starts with a dot gets one more; then the end, `.CRLF`."""
    return b"".join(b"." + ln if ln.startswith(b".") else ln for ln in lines) + b".\r\n"


_line = st.builds(lambda text, end: text + end,
                  st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))
                  | st.sampled_from([b"", b".", b"..", b".x", b"x.", b". ", b".\r"]),
                  st.sampled_from([b"\r\n", b"\r\n", b"\n"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(_line, max_size=40), after=st.sampled_from([b"", b"+OK 1 2\r\n"]),
       cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_any_body_cut_anywhere(lines: list[bytes], after: bytes, cuts: list[int]) -> None:
    wire = _stuffed(lines)
    ends = [len(wire) - 2, len(wire) - 1]  # a read ends after the end's dot, after its CR
    body, rest = _read(wire + after, [*cuts, *ends])
    assert body == b"".join(lines)
    assert rest == after


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count=st.integers(0, 4 * multiline.DOT_BUDGET), cuts=st.lists(st.integers(0, 100_000), max_size=6))
def test_bodies_dense_with_dots(count: int, cuts: list[int]) -> None:
    """More dots per read than the scan looks at one by one: the substring search takes over."""
    lines = [b"..\r\n", b"a.b.c.\r\n", b".\r\n", b"x\n"] * count
    wire = _stuffed(lines)
    ends = [len(wire) - 2, len(wire) - 1]  # a read ends after the end's dot, after its CR
    body, rest = _read(wire + b"+OK\r\n", [*cuts, *ends])
    assert body == b"".join(lines)
    assert rest == b"+OK\r\n"


@settings(max_examples=60, deadline=None)
@given(dots=st.integers(0, 200), extra=st.integers(0, 1),
       cuts=st.lists(st.integers(0, 10_000), max_size=6))
def test_size_bound_is_on_the_unstuffed_body(dots: int, extra: int, cuts: list[int]) -> None:
    """Exactly the bound passes, one byte over fails, whatever the count of stuffed dots."""
    limit = 4096
    lines = [b".\r\n"] * dots
    lines.append(b"y" * (limit - 3 * dots - 2 + extra) + b"\r\n")
    wire = _stuffed(lines)
    if extra:
        try:
            _read(wire, cuts, max_message_size=limit)
        except Pop3TooLarge:
            return
        raise AssertionError("a body one byte over the bound was taken")
    assert _read(wire, cuts, max_message_size=limit)[0] == b"".join(lines)
