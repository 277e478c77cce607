"""The document feeder: produces the page images of a scan job.

A bench has no paper, so `Scanner.scan` prints its own test sheets: A4 pages in black on
white, carrying "mfp-sim test page k/N", the job id and the label, a paragraph of pseudo-text
and a few shapes. The sheets are a pure function of (dpi, pages, job id, label), so two runs of
a test or a demo produce the same bytes, and the shapes give the fax and PDF coders real runs
to compress instead of a blank page. `Scanner.load` feeds real files instead, for people who
want to send a given document.

Pages are returned as Pillow images with `info["dpi"]` set, because the encoders above need
the physical size of a page to fit it to fax width or to a PDF page.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageSequence, UnidentifiedImageError

from mfp_sim.hwsim.errors import ScannerError

__all__ = ["A4_MM", "DEFAULT_DPI", "MAX_PAGES", "Scanner"]

#: The feeder's capacity per job. A real ADF holds far fewer sheets, but a job may be built
#: from several batches; 999 is what three-digit page counters on panels can show.
MAX_PAGES = 999

#: ISO A4, portrait, in millimetres.
A4_MM = (210.0, 297.0)

#: 200 dpi is the usual "standard" scan resolution of MFPs for e-mail and fax.
DEFAULT_DPI = 200

_MIN_DPI = 25
_MAX_DPI = 600
_MAX_LABEL = 200
_WHITE = 255
_BLACK = 0

# Modes the encoders take as they are; anything else is converted on load.
_KEPT_MODES = frozenset({"1", "L", "RGB"})

# fmt: off
_WORDS = (
    "scan", "fax", "mail", "token", "page", "toner", "tray", "feeder", "duplex", "relay",
    "server", "queue", "status", "send", "receive", "print", "image", "folder", "admin",
    "account", "provider", "refresh", "expire", "poll", "notice", "device", "network",
    "panel", "sheet", "margin", "header", "footer", "job", "cover", "memo", "draft", "final",
    "copy",
)
# fmt: on


class Scanner:
    """The flatbed and document feeder of the simulated MFP.

    `dpi` sets the size of generated pages (A4 at 200 dpi is 1654 x 2339 pixels); tests use a
    low value to keep pages small and fast.
    """

    def __init__(self, *, dpi: int = DEFAULT_DPI) -> None:
        if not _MIN_DPI <= dpi <= _MAX_DPI:
            raise ScannerError(
                f"scan resolution {dpi} dpi is out of range: use {_MIN_DPI} to {_MAX_DPI} dpi"
            )
        self.dpi = dpi

    @property
    def page_size(self) -> tuple[int, int]:
        """Pixel size of a generated A4 page at this scanner's resolution."""
        return (_mm_to_px(A4_MM[0], self.dpi), _mm_to_px(A4_MM[1], self.dpi))

    def scan(self, pages: int, *, job_id: str, label: str = "") -> list[Image.Image]:
        """Produce `pages` deterministic test sheets for job `job_id`."""
        _check_page_count(pages)
        if not job_id.strip():
            raise ScannerError("a scan needs a job id")
        if len(label) > _MAX_LABEL:
            raise ScannerError(f"label is {len(label)} characters long; at most {_MAX_LABEL}")
        return [_test_page(self.dpi, k, pages, job_id, label) for k in range(1, pages + 1)]

    def load(self, paths: Sequence[str | os.PathLike[str]]) -> list[Image.Image]:
        """Scan the given image files; every frame of a multi-page file becomes a page.

        Raises `ScannerError` naming the file when it is missing or is not an image, so the
        person at the panel or shell knows which one to fix.
        """
        if isinstance(paths, (str, bytes, os.PathLike)):
            raise ScannerError("load() takes a list of files, not a single path")
        if not paths:
            raise ScannerError("no files to scan: give at least one image file")
        pages: list[Image.Image] = []
        for raw in paths:
            path = Path(raw)
            for page in _load_file(path):
                pages.append(page)
                if len(pages) > MAX_PAGES:
                    raise ScannerError(f"the files hold more than {MAX_PAGES} pages; split the job")
        return pages


def _check_page_count(pages: int) -> None:
    if isinstance(pages, bool) or not isinstance(pages, int):
        raise ScannerError(f"page count must be a whole number, not {pages!r}")
    if not 1 <= pages <= MAX_PAGES:
        raise ScannerError(f"page count {pages} is out of range: scan 1 to {MAX_PAGES} pages")


def _load_file(path: Path) -> list[Image.Image]:
    if not path.exists():
        raise ScannerError(f"{path}: no such file")
    if not path.is_file():
        raise ScannerError(f"{path}: not a regular file")
    pages: list[Image.Image] = []
    try:
        with Image.open(path) as image:
            for frame in ImageSequence.Iterator(image):
                frame.load()
                pages.append(_normalise_mode(frame.copy()))
                if len(pages) > MAX_PAGES:
                    break
    except UnidentifiedImageError:
        raise ScannerError(
            f"{path}: not an image (PNG, JPEG, TIFF, BMP, GIF and the other formats "
            "Pillow reads are accepted)"
        ) from None
    except Image.DecompressionBombError:
        raise ScannerError(f"{path}: image is too large to scan") from None
    except (OSError, ValueError, EOFError, SyntaxError) as exc:
        # Pillow reports a truncated or corrupt file with any of these.
        raise ScannerError(f"{path}: cannot read the image: {exc}") from None
    return pages


def _normalise_mode(image: Image.Image) -> Image.Image:
    """Bring a loaded frame to 1, L or RGB: the modes every encoder above accepts."""
    if image.mode in _KEPT_MODES:
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return image.convert("L")
    # P, LA, RGBA, CMYK, ...: flatten any transparency onto white paper, as a scanner sees it.
    rgba = image.convert("RGBA")
    paper = Image.new("RGB", rgba.size, (255, 255, 255))
    paper.paste(rgba, mask=rgba.getchannel("A"))
    paper.info = dict(image.info)
    paper.info.pop("transparency", None)
    return paper


def _mm_to_px(mm: float, dpi: int) -> int:
    return max(1, round(mm / 25.4 * dpi))


def _font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font: the same glyphs on every machine, so pages are reproducible.
    try:
        return ImageFont.load_default(size=max(6, size_px))
    except ImportError:  # Pillow built without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def _test_page(dpi: int, number: int, total: int, job_id: str, label: str) -> Image.Image:
    width, height = _mm_to_px(A4_MM[0], dpi), _mm_to_px(A4_MM[1], dpi)

    def mm(value: float) -> int:
        return round(value / 25.4 * dpi)

    page = Image.new("1", (width, height), _WHITE)
    draw = ImageDraw.Draw(page)
    rng = random.Random(f"mfp-sim|{job_id}|{label}|{number}/{total}")
    line = max(1, mm(0.35))
    margin = mm(12)

    draw.rectangle((margin, margin, width - margin, height - margin), outline=_BLACK, width=line)
    title, body, small = _font(mm(7)), _font(mm(3.2)), _font(mm(2.6))
    x = margin + mm(8)
    y = margin + mm(8)
    draw.text((x, y), f"mfp-sim test page {number}/{total}", font=title, fill=_BLACK)
    y += mm(12)
    draw.text((x, y), f"Job: {_printable(job_id)}", font=body, fill=_BLACK)
    y += mm(6)
    if label:
        draw.text((x, y), f"Label: {_printable(label)}", font=body, fill=_BLACK)
    y += mm(9)
    draw.line((x, y, width - margin - mm(8), y), fill=_BLACK, width=line * 2)
    y += mm(6)

    # A paragraph of pseudo-text: short black runs on long white ones, like a letter.
    for _ in range(14):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(7, 12)))
        draw.text((x, y), words, font=body, fill=_BLACK)
        y += mm(5.5)
    y += mm(6)

    # Shapes: a circle, a triangle, a hatched box and a bar pattern.
    size = mm(35)
    draw.ellipse((x, y, x + size, y + size), outline=_BLACK, width=line * 3)
    tx = x + size + mm(12)
    draw.polygon([(tx, y + size), (tx + size // 2, y), (tx + size, y + size)], fill=_BLACK)
    hx = tx + size + mm(12)
    draw.rectangle((hx, y, hx + size, y + size), outline=_BLACK, width=line * 2)
    for offset in range(0, size * 2, mm(3)):
        draw.line(
            (
                hx + max(0, offset - size),
                y + min(offset, size),
                hx + min(offset, size),
                y + max(0, offset - size),
            ),
            fill=_BLACK,
            width=line,
        )
    y += size + mm(10)
    bx = x
    while bx < width - margin - mm(10):
        bar = mm(rng.choice((0.5, 1.0, 1.5, 2.5)))
        draw.rectangle((bx, y, bx + bar, y + mm(15)), fill=_BLACK)
        bx += bar + mm(rng.choice((0.5, 1.0, 2.0)))
    y += mm(22)

    # A grid, as on a form.
    cols, rows = 6, 5
    cell_w = (width - 2 * margin - mm(16)) // cols
    cell_h = mm(8)
    for r in range(rows + 1):
        draw.line((x, y + r * cell_h, x + cols * cell_w, y + r * cell_h), fill=_BLACK, width=line)
    for c in range(cols + 1):
        draw.line((x + c * cell_w, y, x + c * cell_w, y + rows * cell_h), fill=_BLACK, width=line)

    footer = f"{_printable(job_id)} - page {number} of {total}"
    draw.text((x, height - margin - mm(8)), footer, font=small, fill=_BLACK)
    page.info["dpi"] = (dpi, dpi)
    return page


def _printable(text: str) -> str:
    """Drop control characters: a label is one line of text on the sheet."""
    return "".join(ch if ch.isprintable() else " " for ch in text)
