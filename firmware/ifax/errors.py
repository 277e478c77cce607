"""Errors of the Internet Fax codec (TIFF-F pages and RFC 3965 messages).

    FirmwareError                (firmware.errors)
     └── IfaxError               a fax cannot be built from what the caller gave
          └── IfaxFormatError    received data is not what Internet Fax allows; the message
               │                 says what was found and what is accepted
               └── IfaxLimitError  a received fax over one of the device's limits (pages,
                                 pixels per page, page memory); `.limit` names it

Receive-side code turns any decoding failure, however deep in Pillow or the `email` package,
into `IfaxFormatError`, so a bad fax from the network ends in a job error and never in a
traceback on the device.
"""

from __future__ import annotations

from mfp_sim.firmware.errors import FirmwareError

__all__ = ["IfaxError", "IfaxFormatError", "IfaxLimitError"]


class IfaxError(FirmwareError):
    """A fax cannot be built or read."""


class IfaxFormatError(IfaxError):
    """Received data is not a document Internet Fax accepts."""


class IfaxLimitError(IfaxFormatError):
    """A received fax that is a fax, but more than the device takes; `limit` says which."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit
