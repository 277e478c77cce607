"""A received TIFF-F: every page checked before any is decoded, then decoded one at a time.

A fax is small on the wire and large in memory: a blank Group 4 page of 2432 × 10,000 pixels
is about 4.6 KB coded and 24 MB decoded (Pillow keeps a bilevel page at a byte per pixel), so
a 459 KB fax of 100 such pages needed 2.4 GB when every page was decoded before printing. A
fax machine prints from a page memory of fixed size, band by band; the device does the same
at page granularity:

1. `ReceivedFax(data, limits)` reads the structure only (the TIFF directories: no pixel is
   decoded) and checks each page against the fax geometry (1 bit per pixel, a fax line
   width, at most `MAX_PAGE_LINES` lines) and against `FaxLimits`: pages per fax, pixels per
   page, page memory per fax (1 bit per pixel, as a fax machine stores a page). The first
   page over a limit stops the walk: a fax of 100,000 directories is not walked to the end.
   A fax over a limit is refused with `IfaxLimitError`, which names the limit.
2. `pages()` decodes page 1, hands it over, then decodes page 2: at most one decoded page is
   held (the caller prints it and lets it go), whatever the length of the fax.

Errors are `IfaxFormatError` (or its `IfaxLimitError`) with what was found and what is
accepted, never a Pillow or libtiff exception. Damage inside a page's coded data is printed
as damaged lines, like a fax machine; a damaged structure is refused before printing starts.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from mfp_sim.firmware.ifax.errors import IfaxFormatError, IfaxLimitError
from mfp_sim.firmware.ifax.tiff_f import (
    ACCEPTED,
    ALLOWED_WIDTHS,
    MAX_PAGE_LINES,
    MAX_PAGES,
    check_page,
    source_dpi,
)

__all__ = [
    "MAX_FAX_RASTER_BYTES",
    "MAX_PAGE_PIXELS",
    "FaxLimits",
    "FaxPage",
    "ReceivedFax",
    "decode_tiff_f",
]

#: Pixels of one page: the largest fax page (A3 line, 2,432 pixels, by `MAX_PAGE_LINES`
#: lines, about 1.3 m). The printer holds one page at a time; as Pillow holds it, 24 MB.
MAX_PAGE_PIXELS = max(ALLOWED_WIDTHS) * MAX_PAGE_LINES

#: Page memory for one fax, at 1 bit per pixel as a fax machine stores pages: 256 MiB, about
#: 540 A4 pages at fine resolution (1,728 × 2,292) or 88 of the longest A3 pages. A larger
#: fax is refused (the sender can split it) rather than printed for ever.
MAX_FAX_RASTER_BYTES = 256 * 1024 * 1024

_A4_FINE_BYTES = (1728 // 8) * 2292
_MIB = 1024 * 1024


@dataclass(frozen=True)
class FaxLimits:
    """What one received fax may hold (docs/reliability.md tells why each is what it is)."""

    pages: int = MAX_PAGES
    page_pixels: int = MAX_PAGE_PIXELS
    raster_bytes: int = MAX_FAX_RASTER_BYTES


@dataclass(frozen=True)
class FaxPage:
    """One page as its directory describes it (nothing decoded)."""

    number: int  # in the whole message, from 1
    width: int
    height: int

    @property
    def raster_bytes(self) -> int:
        """Page memory at 1 bit per pixel (rows padded to whole bytes, as TIFF stores them)."""
        return (self.width + 7) // 8 * self.height


class ReceivedFax:
    """A received TIFF, checked whole against the fax geometry and `limits`.

    `before` is what earlier TIFFs of the same message used (pages, page memory): the
    limits hold for the message, not for each attachment.
    """

    def __init__(self, data: bytes, limits: FaxLimits = FaxLimits(),
                 before: tuple[int, int] = (0, 0)) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise IfaxFormatError(f"fax data must be bytes, not {type(data).__name__}")
        self._raw = bytes(data)
        self.limits = limits
        if self._raw[:4] in (b"II+\x00", b"MM\x00+"):
            raise IfaxFormatError(f"BigTIFF is not allowed; {ACCEPTED}")
        if self._raw[:4] not in (b"II*\x00", b"MM\x00*"):
            raise IfaxFormatError(f"not a TIFF file (starts with {self._raw[:4]!r}); {ACCEPTED}")
        self.pages = tuple(self._walk(*before))
        self.raster_bytes = sum(p.raster_bytes for p in self.pages)

    def _walk(self, pages_before: int, bytes_before: int) -> Iterator[FaxPage]:
        used = bytes_before
        count = 0
        try:
            with Image.open(io.BytesIO(self._raw), formats=["TIFF"]) as tiff:
                while True:
                    try:
                        tiff.seek(count)
                    except EOFError:
                        break
                    number = pages_before + count + 1
                    if number > self.limits.pages:
                        raise _over_pages(self.limits.pages)
                    check_page(tiff, number)
                    page = FaxPage(number, tiff.width, tiff.height)
                    if page.width * page.height > self.limits.page_pixels:
                        raise _over_pixels(page, self.limits.page_pixels)
                    used += page.raster_bytes
                    if used > self.limits.raster_bytes:
                        raise _over_memory(page, self.limits.raster_bytes)
                    count += 1
                    yield page
        except IfaxFormatError:
            raise
        except UnidentifiedImageError as exc:
            raise IfaxFormatError(
                f"TIFF structure is damaged (no readable page); {ACCEPTED}") from exc
        except Exception as exc:  # Pillow and libtiff fail in many ways on garbage
            where = f"page {count + 1}" if count else "file"
            raise IfaxFormatError(f"TIFF {where} cannot be read ({exc}); {ACCEPTED}") from exc
        if not count:
            raise IfaxFormatError(f"TIFF holds no pages; {ACCEPTED}")

    def pages_decoded(
        self, wanted: Callable[[FaxPage], bool] = lambda page: True
    ) -> Iterator[tuple[FaxPage, Image.Image | None]]:
        """Each page with its decoded image (mode "1", with its `dpi`), one at a time, in order;
        a page not `wanted` (already printed) is not decoded and comes with None."""
        try:
            tiff = Image.open(io.BytesIO(self._raw), formats=["TIFF"])
        except Exception as exc:
            raise IfaxFormatError(f"TIFF cannot be read again ({exc}); {ACCEPTED}") from exc
        with tiff:
            for index, page in enumerate(self.pages):
                if not wanted(page):
                    yield page, None
                    continue
                try:
                    tiff.seek(index)
                    tiff.load()
                    decoded = tiff.copy()
                    decoded.info = {"dpi": source_dpi(tiff)}
                except Exception as exc:  # damage the structure check could not see
                    raise IfaxFormatError(
                        f"TIFF page {page.number} cannot be decoded ({exc}); {ACCEPTED}") from exc
                yield page, decoded
                del decoded  # the caller has printed it: let it go before the next page


def decode_tiff_f(data: bytes, limits: FaxLimits = FaxLimits()) -> list[Image.Image]:
    """Every page of a received TIFF, decoded (small faxes, tests); printing uses `ReceivedFax`."""
    return [image for _, image in ReceivedFax(data, limits).pages_decoded() if image is not None]


def _over_pages(limit: int) -> IfaxLimitError:
    return IfaxLimitError(
        "pages per fax",
        f"the fax has more than {limit} pages; the device takes at most {limit} pages per fax "
        "(limit: pages per fax). Ask the sender to split it")


def _over_pixels(page: FaxPage, limit: int) -> IfaxLimitError:
    return IfaxLimitError(
        "pixels per page",
        f"page {page.number} is {page.width} × {page.height} pixels; the device prints pages of "
        f"at most {limit:,} pixels (limit: pixels per page)")


def _over_memory(page: FaxPage, limit: int) -> IfaxLimitError:
    return IfaxLimitError(
        "page memory per fax",
        f"by page {page.number} the fax needs more than {limit // _MIB} MiB of page memory "
        f"(1 bit per pixel); the device takes at most {limit // _MIB} MiB per fax, about "
        f"{limit // _A4_FINE_BYTES} A4 pages at fine resolution (limit: page memory per fax). "
        "Ask the sender to split it")
