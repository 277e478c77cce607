"""Printing one received message: what an Internet Fax or an E-mail Print job puts in the tray.

Runs in the print worker's thread (decoding and PNG encoding are CPU work). A message that
cannot be printed is refused with a reason a person can act on, never with an exception:

- **Internet Fax**: every `image/tiff` attachment is read as TIFF-F (`ifax.ReceivedFax`):
  every page's geometry and the message's limits (`ReceiveLimits.fax`: pages, pixels per
  page, page memory) are checked before any page is decoded, so a fax over a limit is refused,
  naming the limit, with nothing printed. Then pages are decoded and printed one at a time
  (`<rx-id>-fax-p<k>.png`): one decoded page is held at a time, whatever the fax's length. A
  message without a TIFF, or whose TIFF is not a fax, is refused.
- **E-mail Print**: PDF and PNG/JPEG/TIFF attachments are printed as they are
  (`<rx-id>-<name>.<ext>`); a "PDF" without a `%PDF-` header, an image that does not decode,
  or an image larger than the print engine's page buffer (`ReceiveLimits.image_pixels`)
  refuses the message.

Printing is idempotent (`keep_existing`): a message printed again after a power cut keeps the
pages already in the tray and prints only the missing ones (those are not even decoded).
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from mfp_sim.hwsim.errors import HwsimError
from mfp_sim.hwsim.printer import OutputTray, sanitize_name

from ..ifax import Attachment, IfaxError, ReceivedFax, extract_documents
from ..vocabulary import Outcome, ReceiveKind
from .limits import ReceiveLimits
from .results import PrintResult

__all__ = ["print_message"]

#: The name of a fax's pages in the tray: `<rx-id>-fax-p<k>.png`.
FAX_PAGES = "fax"
_EXT = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "image/tiff": "tif"}


def print_message(raw: bytes, rx_id: str, kind: ReceiveKind, tray: OutputTray,
                  limits: ReceiveLimits) -> PrintResult:
    """Print one message into `tray`, or refuse it; the files are not synced yet."""
    try:
        documents = extract_documents(raw)
    except IfaxError as exc:
        return _refused(rx_id, f"not a readable message: {exc}")
    try:
        if kind is ReceiveKind.FAX:
            return _print_fax(documents, rx_id, tray, limits)
        return _print_documents(documents, rx_id, tray, limits)
    except HwsimError as exc:  # the tray could not take it
        return _refused(rx_id, f"the output tray refused it: {exc}")


def _refused(rx_id: str, reason: str) -> PrintResult:
    return PrintResult(rx_id, Outcome.REFUSED, reason=reason)


def _print_fax(documents: list[Attachment], rx_id: str, tray: OutputTray,
               limits: ReceiveLimits) -> PrintResult:
    tiffs = [d for d in documents if d.content_type == "image/tiff"]
    if not tiffs:
        found = ", ".join(d.content_type for d in documents) or "no attachment"
        return _refused(rx_id, f"not an Internet Fax: no TIFF image ({found})")
    faxes: list[ReceivedFax] = []
    pages, raster = 0, 0
    try:  # every page checked before any is printed: a fax over a limit prints nothing
        for doc in tiffs:
            fax = ReceivedFax(doc.data, limits.fax, before=(pages, raster))
            faxes.append(fax)
            pages, raster = pages + len(fax.pages), raster + fax.raster_bytes
    except IfaxError as exc:
        return _refused(rx_id, str(exc))
    del documents, tiffs  # the decoded attachments are in `faxes`; let the rest go
    files: list[Path] = []
    try:
        for fax in faxes:
            for page, image in fax.pages_decoded(
                    lambda p: tray.printed_page(rx_id, FAX_PAGES, p.number) is None):
                done = tray.printed_page(rx_id, FAX_PAGES, page.number)
                if image is not None:
                    done = tray.print_page(rx_id, FAX_PAGES, page.number, image)
                    del image
                assert done is not None
                files.append(done)
    except IfaxError as exc:  # a page damaged beyond decoding, found only now
        return PrintResult(rx_id, Outcome.REFUSED, tuple(files), reason=str(exc))
    return PrintResult(rx_id, Outcome.PRINTED, tuple(files), pages=pages)


def _print_documents(documents: list[Attachment], rx_id: str, tray: OutputTray,
                     limits: ReceiveLimits) -> PrintResult:
    if not documents:
        return _refused(rx_id, "no PDF or image attachment to print")
    for doc in documents:
        problem = _check_document(doc.content_type, doc.data, limits.image_pixels)
        if problem:
            return _refused(rx_id, f"{doc.filename}: {problem}")
    files: list[Path] = []
    used: set[str] = set()
    for doc in documents:
        stem, _, ext = doc.filename.rpartition(".")
        ext = _EXT.get(doc.content_type, ext or "bin")
        name = _distinct(sanitize_name(stem or doc.filename), ext, used)
        files.append(tray.print_document(rx_id, name, doc.data, ext, keep_existing=True))
    return PrintResult(rx_id, Outcome.PRINTED, tuple(files), pages=len(files))


def _distinct(name: str, ext: str, used: set[str]) -> str:
    """Two attachments called the same get `-2`, ... here, so `keep_existing` tells them apart."""
    candidate, copy = name, 1
    while f"{candidate}.{ext}".lower() in used:
        copy += 1
        candidate = f"{name}-{copy}"
    used.add(f"{candidate}.{ext}".lower())
    return candidate


def _check_document(content_type: str, data: bytes, max_pixels: int) -> str:
    """Why this attachment cannot be printed, or "" when it can."""
    if content_type == "application/pdf":
        return "" if data.lstrip()[:5] == b"%PDF-" else "not a PDF file (no %PDF- header)"
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > max_pixels:
                return _too_many_pixels(content_type, image.width, image.height, max_pixels)
            image.verify()
    except Image.DecompressionBombError:
        return _too_many_pixels(content_type, 0, 0, max_pixels)
    except Exception as exc:
        return f"the {content_type} image cannot be decoded ({type(exc).__name__})"
    return ""


def _too_many_pixels(content_type: str, width: int, height: int, limit: int) -> str:
    size = f" is {width} × {height} pixels" if width else " is far too large"
    return (f"the {content_type} image{size}; the printer takes images of at most {limit:,} "
            "pixels, A3 at 600 dpi (limit: pixels per image)")
