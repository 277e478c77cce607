"""TIFF-F pages for Internet Fax simple mode (RFC 3965), as RFC 3949 profile S defines them.

Profile S is the "minimal" black-and-white fax file every Internet Fax device must read, so
it is what the device sends:

    ImageWidth        1728 (A4 fax line; 2048 for B4, 2432 for A3)
    BitsPerSample     1, SamplesPerPixel 1
    Compression       3 (T.4) with T4Options 0: 1-D Modified Huffman only
    Photometric       0 (min-is-white)
    FillOrder         2 (least significant bit first). Profile S readers take both orders;
                      2 is the order bits travel on a fax line and what fax products store
    X/YResolution     204 x 98 (standard) or 204 x 196 (fine) per inch, ResolutionUnit 2
    NewSubfileType 2, PageNumber (k, n), one strip per page

Pages are fitted to the fax line from their physical size: a 210 mm A4 sheet at 204 dpi is
1686 pixels and is centred on the 1728-pixel line (215 mm), as fax machines do; wider pages
are scaled down to fit.

On receive (`received.py`) the device is liberal in the coding (any bilevel TIFF Pillow decodes: MH, MR, MMR,
uncompressed, either fill order) but strict in the geometry: one bit per pixel and a fax
line width, or `IfaxFormatError` saying what is allowed. Damage inside a page's coded data
is not an error: like a fax machine, the device prints the page with the damaged lines
(libtiff reports them on stderr). A file whose structure is damaged is refused.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from PIL import Image

from mfp_sim.firmware.ifax.bilevel_tiff import (
    COMPRESSION_MH,
    TiffPage,
    encode_strip,
    to_bilevel,
    to_grey,
    write_tiff,
)
from mfp_sim.firmware.ifax.errors import IfaxError, IfaxFormatError

__all__ = [
    "ACCEPTED",
    "ALLOWED_WIDTHS",
    "FAX_WIDTH",
    "MAX_PAGES",
    "MAX_PAGE_LINES",
    "FaxResolution",
    "check_page",
    "encode_tiff_f",
    "fit_to_fax",
    "source_dpi",
]

#: The A4 fax line: 1728 pixels at 204 dpi (215 mm).
FAX_WIDTH = 1728

#: Line widths profile S allows: A4, B4, A3 at 204 dpi.
ALLOWED_WIDTHS = (1728, 2048, 2432)

#: Pages per fax, both ways; the same bound as the scanner's feeder.
MAX_PAGES = 999

#: Longest page accepted, in lines: about 1.3 m at fine resolution. Fax allows long pages,
#: but a bound keeps a hostile header from asking for gigabytes.
MAX_PAGE_LINES = 10_000

_A4_WIDTH_INCH = 210.0 / 25.4
ACCEPTED = (
    "Internet Fax accepts TIFF-F (RFC 3949 profile S): 1 bit per pixel, "
    "1728, 2048 or 2432 pixels wide"
)


class FaxResolution(enum.Enum):
    """Vertical resolutions of profile S; horizontal is always 204 dpi."""

    STANDARD = (204, 98)
    FINE = (204, 196)

    @property
    def dpi(self) -> tuple[int, int]:
        x_dpi, y_dpi = self.value
        return (x_dpi, y_dpi)


def fit_to_fax(image: Image.Image, resolution: FaxResolution = FaxResolution.FINE) -> Image.Image:
    """One page as the fax sends it: bilevel, 1728 pixels wide, at the fax resolution."""
    x_dpi, y_dpi = resolution.dpi
    src_x, src_y = source_dpi(image)
    width = max(1, round(image.width * x_dpi / src_x))
    height = max(1, round(image.height * y_dpi / src_y))
    if width > FAX_WIDTH:  # wider than the fax line: shrink the whole page to fit
        height = max(1, round(height * FAX_WIDTH / width))
        width = FAX_WIDTH
    if height > MAX_PAGE_LINES:
        raise IfaxError(
            f"page is too long for a fax: {height} lines at {y_dpi} dpi, at most {MAX_PAGE_LINES}"
        )
    if image.mode == "1" and image.size == (width, height):
        bilevel = image
    else:
        grey = to_grey(image).resize((width, height), Image.Resampling.BILINEAR)
        bilevel = to_bilevel(grey)
    page = Image.new("1", (FAX_WIDTH, height), 255)
    page.paste(bilevel, ((FAX_WIDTH - width) // 2, 0))
    page.info["dpi"] = (x_dpi, y_dpi)
    return page


def encode_tiff_f(
    images: Sequence[Image.Image], *, resolution: FaxResolution = FaxResolution.FINE
) -> bytes:
    """Encode pages as one multi-page profile S TIFF (the body of an Internet Fax)."""
    if not images:
        raise IfaxError("a fax needs at least one page")
    if len(images) > MAX_PAGES:
        raise IfaxError(f"a fax holds at most {MAX_PAGES} pages, not {len(images)}")
    x_dpi, y_dpi = resolution.dpi
    pages = []
    for image in images:
        page = fit_to_fax(image, resolution)
        strip = encode_strip(page, COMPRESSION_MH)
        pages.append(TiffPage(page.width, page.height, x_dpi, y_dpi, strip))
    return write_tiff(pages, compression=COMPRESSION_MH, fill_order=2)


def check_page(frame: Image.Image, number: int) -> None:
    """Refuse a page that is not a fax page (bilevel, a fax line width, bounded length)."""
    if frame.mode != "1":
        raise IfaxFormatError(
            f"page {number} is not black-and-white (image mode {frame.mode}); "
            "Internet Fax simple mode carries 1 bit per pixel"
        )
    if frame.width not in ALLOWED_WIDTHS:
        raise IfaxFormatError(
            f"page {number} is {frame.width} pixels wide; fax pages are 1728 (A4), "
            "2048 (B4) or 2432 (A3) pixels wide"
        )
    if not 1 <= frame.height <= MAX_PAGE_LINES:
        raise IfaxFormatError(
            f"page {number} is {frame.height} lines long; at most {MAX_PAGE_LINES}"
        )


def source_dpi(image: Image.Image) -> tuple[float, float]:
    """The page's resolution; without one, assume the page is an A4 sheet's width."""
    dpi = image.info.get("dpi")
    try:
        x_dpi, y_dpi = float(dpi[0]), float(dpi[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError, KeyError):
        x_dpi = y_dpi = 0.0
    if not (1.0 <= x_dpi <= 10_000.0 and 1.0 <= y_dpi <= 10_000.0):
        x_dpi = y_dpi = max(1.0, image.width / _A4_WIDTH_INCH)
    return (x_dpi, y_dpi)
