"""Outgoing messages: scanned pages turned into a Scan to E-mail or an Internet Fax message.

The message is built completely, Message-ID included, before the job is queued, and the
queue stores those exact bytes: a retry or a resend after a power cut sends the same message
with the same Message-ID, which is what lets a receiver recognise a duplicate.

Scanning and encoding are CPU work (a 10-page PDF at 200 dpi takes a noticeable fraction of
a second), so they run in a worker thread and the device keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import email.policy
import secrets
from dataclasses import dataclass
from email.headerregistry import Address
from typing import Literal

from mfp_sim.hwsim.scanner import Scanner

from ..ifax import compose_ifax_message, encode_tiff_f
from ..scan_pdf import compose_scan_email, encode_pdf, encode_tiff
from ..settings import SmtpSettings

__all__ = [
    "FAX_SUBJECT",
    "Outgoing",
    "ScanFormat",
    "compose_fax",
    "compose_scan",
    "new_message_id",
]

ScanFormat = Literal["pdf", "tiff"]

#: Subject of an Internet Fax, as Sharp devices send it (the page count follows).
FAX_SUBJECT = "Internet Fax from MFP"


@dataclass(frozen=True)
class Outgoing:
    """A composed message, ready for the queue."""

    message: bytes
    message_id: str
    subject: str
    pages: int


def new_message_id(job_id: str, sender_address: str) -> str:
    """`<mfp.<job>.<random>@<sender's domain>>`: unique across devices and power cycles."""
    domain = sender_address.rpartition("@")[2] or "mfp-sim.local"
    return f"<mfp.{job_id}.{secrets.token_hex(8)}@{domain}>"


async def compose_scan(
    scanner: Scanner,
    cfg: SmtpSettings,
    *,
    job_id: str,
    to: str,
    pages: int,
    fmt: ScanFormat,
    now: float,
) -> Outgoing:
    message_id = new_message_id(job_id, cfg.sender_address)

    def build() -> Outgoing:
        images = scanner.scan(pages, job_id=job_id, label=f"Scan to E-mail to {to}")
        document = encode_pdf(images, created=now, title=f"Scan {job_id}") if fmt == "pdf" \
            else encode_tiff(images)
        message = compose_scan_email(
            sender_name=cfg.sender_name, sender_address=cfg.sender_address, to=to,
            job_id=job_id, document=document, file_format=fmt, date=now,
            message_id=message_id, pages=pages,
        )
        return Outgoing(message.as_bytes(policy=email.policy.SMTP), message_id,
                        str(message["Subject"]), pages)

    return await asyncio.to_thread(build)


async def compose_fax(
    scanner: Scanner,
    cfg: SmtpSettings,
    *,
    job_id: str,
    to: str,
    pages: int,
    now: float,
) -> Outgoing:
    message_id = new_message_id(job_id, cfg.sender_address)
    subject = f"{FAX_SUBJECT} ({pages} page{'s' if pages != 1 else ''})"

    def build() -> Outgoing:
        images = scanner.scan(pages, job_id=job_id, label=f"Internet Fax to {to}")
        tiff = encode_tiff_f(images)
        sender = Address(display_name=cfg.sender_name, addr_spec=cfg.sender_address)
        message = compose_ifax_message(
            sender=sender, to=to, subject=subject, date=now, message_id=message_id,
            tiff=tiff, pages=pages, filename=f"fax_{job_id}.tif",
        )
        return Outgoing(message.as_bytes(policy=email.policy.SMTP), message_id, subject, pages)

    return await asyncio.to_thread(build)
