"""Scan to E-mail: scanned pages as a PDF or TIFF file, and the message that carries it.

PDF: each page is one image, drawn to its physical size. Black-and-white pages (what the
scanner produces by default) are stored CCITT Group 4 (`/CCITTFaxDecode`, lossless, a few
kilobytes per text page, read by every PDF viewer); grey and colour pages from files are
stored as JPEG (`/DCTDecode`), which is what MFPs do for colour scans. The JPEG quality is
Pillow's default (75): Pillow hands the PDF's save options to its inner Group 4 TIFF save,
which refuses a quality option, so setting one would break mixed documents. Pillow's PDF
writer does the work; its dates come from a `created` timestamp, never the wall clock, so
the same scan gives the same bytes.

TIFF: multi-page, Group 4 (MMR), min-is-white, FillOrder 1 (the baseline TIFF order every
viewer reads), resolution from the page. Pages that are not black-and-white are thresholded,
as an MFP's "Text" mode does; TIFF from this device is a document format, not a photo one.

Invalid arguments (no pages, unknown format, bad address) raise `ValueError` with a message
naming the argument: they are programming errors, caught at the panel or shell before here.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Literal

from PIL import Image

from mfp_sim.firmware.ifax.bilevel_tiff import (
    COMPRESSION_MMR,
    TiffPage,
    encode_strip,
    to_bilevel,
    write_tiff,
)
from mfp_sim.firmware.ifax.errors import IfaxError
from mfp_sim.firmware.ifax.message import (
    email_date,
    format_message_id,
    set_address_header,
    set_stable_boundary,
)

__all__ = [
    "DEFAULT_SUBJECT",
    "ScanFormat",
    "compose_scan_email",
    "encode_pdf",
    "encode_tiff",
    "scan_filename",
]

ScanFormat = Literal["pdf", "tiff"]

#: The subject real MFPs use when the user leaves it empty.
DEFAULT_SUBJECT = "Scanned image from MFP"

#: Resolution assumed for a page that does not say (the scanner's default).
DEFAULT_DPI = 200.0

_CONTENT_TYPE = {"pdf": ("application", "pdf"), "tiff": ("image", "tiff")}
_EXTENSION = {"pdf": "pdf", "tiff": "tif"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def encode_pdf(
    images: Sequence[Image.Image], *, created: float | None = None, title: str | None = None
) -> bytes:
    """One PDF page per image, at the first page's resolution.

    `created` (device seconds since the epoch) becomes CreationDate and ModDate; without it
    the PDF has no dates at all. Later pages at another resolution are resampled to the
    first page's, because Pillow writes one resolution for the whole document.
    """
    pages = _check_pages(images)
    dpi = _dpi(pages[0])
    prepared = [_for_pdf(page, dpi) for page in pages]
    stamp = time.gmtime(created) if created is not None else None
    buffer = io.BytesIO()
    prepared[0].save(
        buffer,
        format="PDF",
        save_all=True,
        append_images=prepared[1:],
        dpi=dpi,
        title=title,
        creationDate=stamp,
        modDate=stamp,
    )
    return buffer.getvalue()


def encode_tiff(images: Sequence[Image.Image]) -> bytes:
    """A multi-page Group 4 TIFF of the pages, each at its own size and resolution."""
    pages = _check_pages(images)
    coded = []
    for page in pages:
        bilevel = to_bilevel(page)
        x_dpi, y_dpi = _dpi(page)
        try:
            strip = encode_strip(bilevel, COMPRESSION_MMR)
        except IfaxError as exc:
            raise ValueError(str(exc)) from exc
        coded.append(TiffPage(bilevel.width, bilevel.height, x_dpi, y_dpi, strip))
    return write_tiff(coded, compression=COMPRESSION_MMR, fill_order=1)


def scan_filename(job_id: str, file_format: ScanFormat) -> str:
    """`scan_<job-id>.pdf` or `.tif`, with the job id reduced to safe characters."""
    if file_format not in _EXTENSION:
        raise ValueError(f"scan format {file_format!r} is not one of: pdf, tiff")
    safe = _UNSAFE.sub("_", job_id).strip("._") or "job"
    return f"scan_{safe}.{_EXTENSION[file_format]}"


def compose_scan_email(
    *,
    sender_name: str,
    sender_address: str,
    to: str | Sequence[str],
    job_id: str,
    document: bytes,
    file_format: ScanFormat,
    date: float,
    message_id: str,
    subject: str = "",
    body: str | None = None,
    pages: int | None = None,
) -> EmailMessage:
    """The Scan to E-mail message: a short text and the scanned file as an attachment.

    An empty `subject` becomes "Scanned image from MFP", as on the real device. The From
    header is "sender name <sender address>" from the SMTP settings.
    """
    filename = scan_filename(job_id, file_format)
    maintype, subtype = _CONTENT_TYPE[file_format]
    if not document:
        raise ValueError("the scanned document is empty")
    if body is None:
        lines = ["Scanned image from MFP.", "", f"Job: {job_id}"]
        if pages is not None:
            lines.append(f"Pages: {pages}")
        lines.append(f"File: {filename}")
        body = "\n".join(lines) + "\n"
    message = EmailMessage()
    try:
        set_address_header(message, "From", Address(sender_name, addr_spec=sender_address))
        set_address_header(message, "To", to)
        message["Subject"] = subject.strip() or DEFAULT_SUBJECT
        message["Date"] = email_date(date)
        message["Message-ID"] = format_message_id(message_id)
    except (ValueError, TypeError, IndexError, IfaxError) as exc:
        raise ValueError(f"scan e-mail header refused: {exc}") from exc
    message.set_content(body)
    message.add_attachment(bytes(document), maintype=maintype, subtype=subtype, filename=filename)
    set_stable_boundary(message)
    return message


def _check_pages(images: Sequence[Image.Image]) -> list[Image.Image]:
    pages = list(images)
    if not pages:
        raise ValueError("nothing to encode: no pages")
    for number, page in enumerate(pages, start=1):
        if not isinstance(page, Image.Image):
            raise TypeError(f"page {number} is not an image but {type(page).__name__}")
    return pages


def _dpi(page: Image.Image) -> tuple[float, float]:
    dpi = page.info.get("dpi")
    try:
        x_dpi, y_dpi = float(dpi[0]), float(dpi[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError, KeyError):
        return (DEFAULT_DPI, DEFAULT_DPI)
    if 1.0 <= x_dpi <= 10_000.0 and 1.0 <= y_dpi <= 10_000.0:
        return (x_dpi, y_dpi)
    return (DEFAULT_DPI, DEFAULT_DPI)


def _for_pdf(page: Image.Image, dpi: tuple[float, float]) -> Image.Image:
    """A page in a mode Pillow's PDF writer stores well (1, L, RGB), at the document's dpi."""
    if page.mode not in ("1", "L", "RGB"):
        if "A" in page.getbands() or page.mode in ("P", "PA"):
            rgba = page.convert("RGBA")
            paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            paper.alpha_composite(rgba)
            page = paper.convert("RGB")
        elif page.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            page = page.convert("RGB")
        else:
            page = page.convert("L")
    own = _dpi(page)
    if own != dpi:
        size = (
            max(1, round(page.width * dpi[0] / own[0])),
            max(1, round(page.height * dpi[1] / own[1])),
        )
        nearest = page.mode == "1"  # keep a bilevel page bilevel
        filter_ = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
        page = page.resize(size, filter_)
        page.info["dpi"] = dpi
    return page
