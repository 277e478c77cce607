"""The bounds of receiving, in one place: what one message may be, and what the fax memory holds.

A real MFP has a fax memory of fixed size and prints from a page memory of fixed size; what
does not fit is refused or left on the server, and the panel says "memory full". The device
does the same, so that no server and no sender can make it take unbounded memory, disk or
time (docs/reliability.md states each promise and the test that keeps it):

    one message    `max_message_bytes`      25 MiB on the wire (Exchange Online's default
                                            message limit is about this): larger ones are not
                                            downloaded, they stay on the server, alerted once
                   `fax.pages`              999 pages per fax (the feeder's bound too)
                   `fax.page_pixels`        24.3 million pixels a page: the longest A3 fax page
                   `fax.raster_bytes`       256 MiB of page memory per fax at 1 bit per pixel
                                            (about 540 A4 fine pages)
                   `image_pixels`           E-mail Print images: A3 at 600 dpi (69.6 million
                                            pixels), what the print engine's page buffer takes
    fax memory     `memory_messages`        2,000 messages waiting to be printed, all POP
                   `memory_bytes`           512 MiB of them       settings together; when full,
                                            polls stop fetching ("fax memory full"): the
                                            messages stay on the server until printing frees
                                            memory
    one poll       `listed`                 10,000: a poll reads the UIDL and LIST of the first
                                            10,000 messages only (a server advertising 400,000
                                            must not fill the device's memory with its list)
    printing       `print_tries`            2: a message whose printing was cut short twice
                                            (the device stopped or restarted mid-print) is
                                            refused, not tried at every power-on

A fax over a limit is refused with a reason that names the limit, recorded as refused in the
ledger and deleted from the server like any refused message (it will never print: keeping it
would raise the same refusal at every poll); with `leave_copy` it stays on the server,
recorded, and is not read again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ifax import FaxLimits

__all__ = ["ReceiveLimits"]

_MIB = 1024 * 1024


@dataclass(frozen=True)
class ReceiveLimits:
    max_message_bytes: int = 25 * _MIB
    fax: FaxLimits = field(default_factory=FaxLimits)
    image_pixels: int = 7016 * 9921
    memory_messages: int = 2000
    memory_bytes: int = 512 * _MIB
    listed: int = 10_000
    print_tries: int = 2
