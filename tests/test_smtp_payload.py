"""The DATA payload the device's SMTP sender writes is exactly what aiosmtplib would send.

`smtp_sender.data_payload` replaces aiosmtplib's two regular expressions with bytes
operations (issue 9: they were an eighth of the device's CPU per job). A server must not see
any difference: these properties compare it with aiosmtplib's own functions for any bytes,
and a real session (tests/test_mail_send.py) checks that dots and lone line ends arrive
as composed.
"""

from __future__ import annotations

from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from hypothesis import given, settings
from hypothesis import strategies as st

from mfp_sim.firmware.mail.smtp_sender import data_payload


def _aiosmtplib(message: bytes) -> bytes:
    """What `SMTPProtocol.execute_data_command` writes after DATA (aiosmtplib 5.1)."""
    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n"


_pieces = st.lists(st.sampled_from([b"\r\n", b"\n", b"\r", b".", b"..", b"a", b"Subject: x",
                                    b"\r\n.\r\n", b"\x00", b" "]), max_size=30)


@settings(max_examples=500, deadline=None)
@given(pieces=_pieces)
def test_same_bytes_as_aiosmtplib(pieces: list[bytes]) -> None:
    message = b"".join(pieces)
    assert data_payload(message) == _aiosmtplib(message)


@settings(max_examples=200, deadline=None)
@given(message=st.binary(max_size=300))
def test_same_bytes_as_aiosmtplib_for_any_bytes(message: bytes) -> None:
    assert data_payload(message) == _aiosmtplib(message)
