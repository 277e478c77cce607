"""Bilevel pages and the TIFF file that carries them (fax TIFF-F and scan-to-e-mail TIFF).

Pillow, through libtiff, does the CCITT coding of each page (T.4 Modified Huffman or T.6
MMR), but its TIFF writer does not write the file. With libtiff 4.7 and Pillow 13 it stores
PageNumber (297) with a corrupt second value, and asking it for PhotometricInterpretation 0
(min-is-white, which the fax profiles require) makes it invert the page pixel by pixel in
Python, about 0.3 s for one fax page. So each page is coded alone into a single-strip TIFF
from an already inverted image, the strip is lifted out, and `write_tiff` lays out the file
with exactly the fields the profiles name. The coded strip does not depend on the
photometric tag: libtiff codes 0 bits as white runs either way.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Final, Literal

from PIL import Image, ImageChops, TiffImagePlugin

from mfp_sim.firmware.ifax.errors import IfaxError

__all__ = [
    "COMPRESSION_MH",
    "COMPRESSION_MMR",
    "TiffPage",
    "encode_strip",
    "to_bilevel",
    "to_grey",
    "write_tiff",
]

#: TIFF Compression values: 3 = T.4 (here 1-D Modified Huffman), 4 = T.6 (MMR).
COMPRESSION_MH: Final = 3
COMPRESSION_MMR: Final = 4

#: Grey levels below this become black. Above mid-grey, so that thin strokes which a
#: downscale turns grey survive, as in the "Text" original-type mode of a real scanner.
BLACK_BELOW = 176

_THRESHOLD = [0 if level < BLACK_BELOW else 255 for level in range(256)]

# TIFF field types
_SHORT, _LONG, _RATIONAL = 3, 4, 5

# Tags, by number (TIFF 6.0, RFC 3949)
_NEW_SUBFILE_TYPE = 254
_IMAGE_WIDTH = 256
_IMAGE_LENGTH = 257
_BITS_PER_SAMPLE = 258
_COMPRESSION = 259
_PHOTOMETRIC = 262
_FILL_ORDER = 266
_STRIP_OFFSETS = 273
_SAMPLES_PER_PIXEL = 277
_ROWS_PER_STRIP = 278
_STRIP_BYTE_COUNTS = 279
_X_RESOLUTION = 282
_Y_RESOLUTION = 283
_T4_OPTIONS = 292
_T6_OPTIONS = 293
_RESOLUTION_UNIT = 296
_PAGE_NUMBER = 297

_PAGE_OF_MULTIPAGE = 2
_MIN_IS_WHITE = 0
_INCH = 2

_REVERSED_BITS = bytes(int(f"{value:08b}"[::-1], 2) for value in range(256))


@dataclass(frozen=True)
class TiffPage:
    """One coded page: its size, its resolution in dpi and its single strip."""

    width: int
    height: int
    x_dpi: float
    y_dpi: float
    strip: bytes


def to_grey(image: Image.Image) -> Image.Image:
    """Grey levels (mode "L") of any page; transparent areas count as white paper."""
    if image.mode == "L":
        return image
    if "A" in image.getbands() or image.mode in ("P", "PA"):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        paper.alpha_composite(rgba)
        return paper.convert("L")
    return image.convert("L")


def to_bilevel(image: Image.Image) -> Image.Image:
    """Black and white at the same size: bilevel pages pass as they are, others thresholded.

    Thresholding (not dithering) keeps text sharp and compresses well; it is what an MFP
    does for a "Text" original.
    """
    if image.mode == "1":
        return image
    return to_grey(image).point(_THRESHOLD, "1")


def encode_strip(page: Image.Image, compression: Literal[3, 4]) -> bytes:
    """Code a mode "1" page as one CCITT strip with black = 1 bits (min-is-white)."""
    if page.mode != "1":
        raise IfaxError(f"internal: page must be bilevel (mode 1), not mode {page.mode}")
    # Pillow's "1" stores white as 255, which it writes as 1 bits; min-is-white wants 0.
    inverted = ImageChops.invert(page)
    buffer = io.BytesIO()
    inverted.save(
        buffer,
        format="TIFF",
        compression="group3" if compression == COMPRESSION_MH else "group4",
        tiffinfo={_ROWS_PER_STRIP: page.height},
    )
    data = buffer.getvalue()
    with Image.open(io.BytesIO(data)) as coded:
        if not isinstance(coded, TiffImagePlugin.TiffImageFile):
            raise IfaxError("internal: the CCITT coder did not produce a TIFF")
        offsets = coded.tag_v2[_STRIP_OFFSETS]
        counts = coded.tag_v2[_STRIP_BYTE_COUNTS]
    if len(offsets) != 1 or len(counts) != 1:
        raise IfaxError("internal: the CCITT coder did not produce a single strip")
    start, length = int(offsets[0]), int(counts[0])
    return data[start : start + length]


def write_tiff(
    pages: Sequence[TiffPage], *, compression: Literal[3, 4], fill_order: Literal[1, 2]
) -> bytes:
    """Lay out a little-endian multi-page TIFF, one IFD and one strip per page.

    Every page carries NewSubfileType = 2 and PageNumber = (index, count), as TIFF Class F
    and RFC 3949 ask of multi-page documents; FillOrder 2 bit-reverses each strip byte.
    """
    if not pages:
        raise IfaxError("a TIFF needs at least one page")
    if len(pages) > 0xFFFF:
        raise IfaxError(f"{len(pages)} pages do not fit the TIFF PageNumber field")
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    next_pointer_at = 4
    options_tag = _T4_OPTIONS if compression == COMPRESSION_MH else _T6_OPTIONS
    for index, page in enumerate(pages):
        strip_at = len(out)
        out += page.strip.translate(_REVERSED_BITS) if fill_order == 2 else page.strip
        if len(out) % 2:
            out += b"\x00"  # IFDs start on a word boundary
        entries: list[tuple[int, int, int, bytes]] = [
            (_NEW_SUBFILE_TYPE, _LONG, 1, _u32(_PAGE_OF_MULTIPAGE)),
            (_IMAGE_WIDTH, _LONG, 1, _u32(page.width)),
            (_IMAGE_LENGTH, _LONG, 1, _u32(page.height)),
            (_BITS_PER_SAMPLE, _SHORT, 1, _u16(1)),
            (_COMPRESSION, _SHORT, 1, _u16(compression)),
            (_PHOTOMETRIC, _SHORT, 1, _u16(_MIN_IS_WHITE)),
            (_FILL_ORDER, _SHORT, 1, _u16(fill_order)),
            (_STRIP_OFFSETS, _LONG, 1, _u32(strip_at)),
            (_SAMPLES_PER_PIXEL, _SHORT, 1, _u16(1)),
            (_ROWS_PER_STRIP, _LONG, 1, _u32(page.height)),
            (_STRIP_BYTE_COUNTS, _LONG, 1, _u32(len(page.strip))),
            (_X_RESOLUTION, _RATIONAL, 1, _rational(page.x_dpi)),
            (_Y_RESOLUTION, _RATIONAL, 1, _rational(page.y_dpi)),
            # T4Options 0: 1-D coding, no uncompressed mode, no EOL fill bits; T6Options 0
            (options_tag, _LONG, 1, _u32(0)),
            (_RESOLUTION_UNIT, _SHORT, 1, _u16(_INCH)),
            (_PAGE_NUMBER, _SHORT, 2, _u16(index) + _u16(len(pages))),
        ]
        ifd_at = len(out)
        struct.pack_into("<I", out, next_pointer_at, ifd_at)
        values_at = ifd_at + 2 + 12 * len(entries) + 4
        ifd = bytearray(struct.pack("<H", len(entries)))
        values = bytearray()
        for tag, kind, count, payload in sorted(entries):
            if len(payload) <= 4:
                field = payload.ljust(4, b"\x00")
            else:
                field = _u32(values_at + len(values))
                values += payload
            ifd += struct.pack("<HHI", tag, kind, count) + field
        next_pointer_at = ifd_at + len(ifd)
        ifd += _u32(0)  # next IFD: patched when another page follows
        out += ifd + values
    return bytes(out)


def _u16(value: int) -> bytes:
    return struct.pack("<H", value)


def _u32(value: int) -> bytes:
    return struct.pack("<I", value)


def _rational(value: float) -> bytes:
    fraction = Fraction(value).limit_denominator(10_000)
    return struct.pack("<II", fraction.numerator, fraction.denominator)
