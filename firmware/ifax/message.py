"""Internet Fax messages (RFC 3965 simple mode) and the documents inside received mail.

Sending: a simple-mode fax is an ordinary MIME message, multipart/mixed, with a short text
part for people reading it in a mail client and one `image/tiff; application=faxbw`
attachment (the RFC 3302 parameter that says "black-and-white fax profile") in base64. Every
header value comes from the caller, the Date from a timestamp argument: the device clock may be
virtual, and a message must be the same bytes in every test run.

Receiving (Internet Fax and E-mail Print): `extract_documents` returns the printable
attachments of a message whatever its shape, because real senders nest parts, forget
Content-Disposition and label PDFs application/octet-stream. Mail from the network may be
broken in any way; the result is then `IfaxFormatError` or an empty list, never a crash.
"""

from __future__ import annotations

import datetime
import email.policy
import email.utils
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser

from mfp_sim.firmware.ifax.errors import IfaxError, IfaxFormatError

__all__ = [
    "ACCEPTED_TYPES",
    "Attachment",
    "compose_ifax_message",
    "email_date",
    "extract_documents",
    "format_message_id",
    "set_address_header",
    "set_stable_boundary",
]

#: Content types the device can print or fax onward; everything else in a message is ignored.
ACCEPTED_TYPES = ("image/tiff", "application/pdf", "image/png", "image/jpeg")

#: Names some mailers use for the accepted types.
_ALIASES = {
    "image/tif": "image/tiff",
    "image/x-tiff": "image/tiff",
    "application/x-pdf": "application/pdf",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
}

#: For parts labelled application/octet-stream: trust the file name's extension.
_BY_EXTENSION = {
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}

_EXTENSION_FOR = {
    "image/tiff": ".tif",
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
}

#: Parts examined per message; a message with more is refused rather than walked for ever.
MAX_PARTS = 200

_MESSAGE_ID = re.compile(r"<?([^<>@\s]+@[^<>@\s]+)>?")
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")


@dataclass(frozen=True)
class Attachment:
    """One document found in a message."""

    filename: str
    content_type: str
    data: bytes


def email_date(timestamp: float) -> str:
    """RFC 5322 date for a device timestamp, in UTC (the device has no time zone setting)."""
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return email.utils.format_datetime(moment)


def format_message_id(message_id: str) -> str:
    """`<left@right>`, with or without the brackets given; refuses anything else."""
    match = _MESSAGE_ID.fullmatch(message_id.strip())
    if not match:
        raise IfaxError(f"Message-ID {message_id!r} is not of the form <left@right>")
    return f"<{match.group(1)}>"


def set_address_header(
    message: EmailMessage, name: str, value: str | Address | Sequence[str | Address]
) -> None:
    """Set an address header (From, To) from one address or a list; refuse non-addresses.

    A list is joined into one string first: the `email` package checks a string for line
    breaks (header injection) and parses it, but would take list items unchecked.
    """
    items = [value] if isinstance(value, (str, Address)) else list(value)
    text = ", ".join(str(item) for item in items)
    message[name] = text  # ValueError on CR or LF
    addresses = getattr(message[name], "addresses", ())
    if not addresses or any(not a.username or not a.domain for a in addresses):
        del message[name]
        raise ValueError(f"{name} {text!r} is not a list of e-mail addresses")


def set_stable_boundary(message: EmailMessage) -> None:
    """Derive the MIME boundary from the Message-ID instead of a random number.

    The `email` package draws boundaries at random; a boundary fixed by the message id makes
    a message the same bytes on every run, so tests and recorded transcripts can compare them.
    """
    message_id = str(message.get("Message-ID", ""))
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    message.set_boundary(f"=_mfp-sim_{digest}")


def compose_ifax_message(
    *,
    sender: str | Address,
    to: str | Address | Sequence[str | Address],
    subject: str,
    date: float,
    message_id: str,
    tiff: bytes,
    pages: int | None = None,
    filename: str = "fax.tif",
    text: str | None = None,
) -> EmailMessage:
    """Build a simple-mode Internet Fax carrying `tiff` (from `encode_tiff_f`).

    `pages`, when given, goes into the text part, which is what a person opening the fax in
    a mail client reads first.
    """
    if bytes(tiff[:4]) not in _TIFF_MAGIC:
        raise IfaxError("the fax document must be a TIFF (use encode_tiff_f)")
    if text is None:
        count = f"{pages} page(s)" if pages is not None else "the attached pages"
        text = (
            f"This is an Internet Fax (RFC 3965 simple mode) with {count}.\n"
            "Open the attached TIFF image to view it.\n"
        )
    message = EmailMessage()
    try:
        set_address_header(message, "From", sender)
        set_address_header(message, "To", to)
        message["Subject"] = subject
        message["Date"] = email_date(date)
        message["Message-ID"] = format_message_id(message_id)
    except (ValueError, TypeError, IndexError) as exc:
        raise IfaxError(f"fax header refused: {exc}") from exc
    message.set_content(text)
    message.add_attachment(
        tiff,
        maintype="image",
        subtype="tiff",
        filename=filename,
        params={"application": "faxbw"},
    )
    set_stable_boundary(message)
    return message


def extract_documents(raw: bytes) -> list[Attachment]:
    """The printable attachments of a raw RFC 5322 message, in message order.

    Accepts image/tiff, application/pdf, image/png and image/jpeg (also under common aliases,
    and application/octet-stream with a matching file name); ignores everything else,
    including text parts. Raises `IfaxFormatError` when the message cannot be parsed.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise IfaxFormatError(f"message must be bytes, not {type(raw).__name__}")
    try:
        message = BytesParser(policy=email.policy.default).parsebytes(bytes(raw))
        return _documents(message)
    except IfaxFormatError:
        raise
    except Exception as exc:  # the email package fails in many ways on garbage
        raise IfaxFormatError(f"malformed MIME message: {exc!r}") from exc


def _documents(message: Message) -> list[Attachment]:
    found: list[Attachment] = []
    for count, part in enumerate(message.walk(), start=1):
        if count > MAX_PARTS:
            raise IfaxFormatError(f"message has more than {MAX_PARTS} MIME parts")
        if part.is_multipart():
            continue
        content_type = _document_type(part)
        if content_type is None:
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or not data:
            continue
        name = _filename(part) or f"document-{len(found) + 1}{_EXTENSION_FOR[content_type]}"
        found.append(Attachment(filename=name, content_type=content_type, data=data))
    return found


def _document_type(part: Message) -> str | None:
    declared = part.get_content_type().lower()
    declared = _ALIASES.get(declared, declared)
    if declared in ACCEPTED_TYPES:
        return declared
    if declared == "application/octet-stream":
        name = (_filename(part) or "").lower()
        for extension, content_type in _BY_EXTENSION.items():
            if name.endswith(extension):
                return content_type
    return None


def _filename(part: Message) -> str:
    """The part's file name without any directory a sender put in it."""
    name = part.get_filename() or ""
    return re.split(r"[/\\]", str(name))[-1].strip()
