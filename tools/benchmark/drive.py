"""Every call the benchmark makes into the firmware, in one place.

Other work changes the firmware's APIs over time; the benchmark should follow with an edit
here and nowhere else. It uses the narrowest surface that does the job: the tools' one device
builder (`build_device`), the context table's names, `device.api` (set, get, get_token,
clear_token, refresh_token, check_mail, wait_printed, job, tray, token_status),
`device.jobs.allocate_id/submit` (the queue's entry: Scan to E-mail without the scanning and
PDF encoding, which are not the mail path), the message composers, and the NVRAM file's size.

A bench device runs on its own `VirtualClock`: nothing time-driven (token refresh, scheduled
polls, retry back-off) wakes up during a measurement unless the bench advances the clock.
"""

from __future__ import annotations

import email.policy
from collections.abc import Callable
from email.headerregistry import Address
from pathlib import Path
from typing import Any

from mfp_sim.firmware.contexts import EMAIL_PRINT, IFAX, SMTP
from mfp_sim.firmware.ifax import compose_ifax_message, encode_tiff_f
from mfp_sim.firmware.mail.outgoing import compose_scan
from mfp_sim.firmware.settings import SmtpSettings
from mfp_sim.firmware.vocabulary import JobKind
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.hwsim.scanner import Scanner
from mfp_sim.tools.device_builder import build_device

from .measure import Span, stopwatch, until

__all__ = ["ALICE", "BOB", "CAROL", "FAX_STORE", "PRINT_STORE", "SMTP_STORE", "STORE_ACCOUNTS",
           "BenchDevice", "fax_message", "scan_message"]

ALICE = "alice@example.test"
BOB = "bob@example.test"
CAROL = "carol@example.test"
#: The token stores the benchmark uses, by the context table's names.
SMTP_STORE, FAX_STORE, PRINT_STORE = SMTP.name, IFAX.name, EMAIL_PRINT.name
#: Which bench user each token store signs in as.
STORE_ACCOUNTS = {SMTP_STORE: ALICE, FAX_STORE: BOB, PRINT_STORE: CAROL}

Approver = Callable[[str, str], None]


class BenchDevice:
    """One device as the benchmark builds and drives it."""

    def __init__(self, nvram_dir: Path, info: dict[str, Any] | None,
                 clock: VirtualClock | None = None) -> None:
        self.clock = clock if clock is not None else VirtualClock()
        # With testbed.json: trusts the bench CA and knows provider `local`, as --testbed does.
        self.device = build_device(Path(nvram_dir), self.clock, testbed=info)

    async def start(self) -> None:
        await self.device.start()

    async def stop(self) -> None:
        await self.device.stop()

    # ------------------------------------------------------------ settings
    async def configure(self, section: str, **values: str) -> None:
        for key, value in values.items():
            await self.device.api.set(f"{section}.{key}", value)

    async def use_bench(self, store: str, **extra: str) -> None:
        """Point a token store's setting at the bench provider, OAuth 2.0, its bench user."""
        await self.configure(store, provider="local", auth="oauth2",
                             account=STORE_ACCOUNTS[store], **extra)

    # -------------------------------------------------------------- tokens
    def retrieved(self, store: str) -> bool:
        return self.device.api.token_status(store).state.value == "retrieved"

    async def press_get_token(self, store: str) -> str:
        """[Get Token]: returns the user code shown on the panel."""
        return (await self.device.api.get_token(store)).user_code

    async def get_token(self, store: str, approve: Approver) -> Span:
        """Get Token, approval at once, the device's poll: the device's own time (the
        approval, a person's step done through the control API, is not counted)."""
        with stopwatch() as pressed:
            code = await self.press_get_token(store)
        approve(code, STORE_ACCOUNTS[store])
        with stopwatch() as polled:
            await self.clock.advance(5)
            await until(lambda: self.retrieved(store), 30, f"{store} token retrieved")
        return Span(pressed.wall + polled.wall, pressed.cpu + polled.cpu)

    async def get_tokens(self, stores: list[str], approve: Approver) -> None:
        """Several stores at once (one clock advance for all); untimed set-up."""
        for store in stores:
            approve(await self.press_get_token(store), STORE_ACCOUNTS[store])
        await self.clock.advance(5)
        await until(lambda: all(self.retrieved(s) for s in stores), 60, f"tokens {stores}")

    async def clear_token(self, store: str) -> None:
        await self.device.api.clear_token(store)

    async def refresh_token(self, store: str) -> None:
        await self.device.api.refresh_token(store)

    # ----------------------------------------------------------------- send
    def submit(self, message: bytes, *, to: str, subject: str, message_id: str,
               pages: int = 1) -> str:
        """Queue a composed message as a Scan to E-mail job; returns once it is in NVRAM."""
        jobs = self.device.jobs
        job_id = jobs.allocate_id()
        sender = self.device.api.get(f"{SMTP_STORE}.sender_address")
        jobs.submit(job_id, kind=JobKind.SCAN, to=to, sender=sender, subject=subject,
                    message_id=message_id, message=message, pages=pages, fmt="pdf")
        return job_id

    def job_state(self, job_id: str) -> str:
        return str(self.device.api.job(job_id).state.value)

    def job_attempts(self, job_id: str) -> int:
        return int(self.device.api.job(job_id).attempts)

    def nvram_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.device.dir.glob("nvram.sqlite*"))

    # -------------------------------------------------------------- receive
    async def check_mail(self, store: str) -> dict[str, Any]:
        """Poll now; returns when the mailbox is drained (stored for good, DELE, QUIT)."""
        r = await self.device.api.check_mail(store, wait_printed=False)
        return {"ok": r.ok, "reason": r.reason, "on_server": r.on_server,
                "received": r.received, "spooled": r.spooled, "duplicates": r.duplicates,
                "deleted": r.deleted}

    async def wait_printed(self, store: str, timeout: float) -> bool:
        return await self.device.api.wait_printed(store, timeout)

    def tray_count(self) -> int:
        return len(self.device.api.tray())


# ------------------------------------------------------------------ messages
async def scan_message(*, sender: str, to: str, pages: int) -> tuple[bytes, str]:
    """A real Scan to E-mail message (PDF of `pages` scanned pages) and its subject."""
    out = await compose_scan(Scanner(), SmtpSettings(sender_address=sender), job_id="bench",
                             to=to, pages=pages, fmt="pdf", now=VirtualClock().now())
    return out.message, out.subject


def fax_message(*, sender: str, to: str, message_id: str) -> bytes:
    """A one-page Internet Fax (TIFF-F), as a fax machine would send it."""
    tiff = encode_tiff_f(Scanner().scan(1, job_id="fax", label="bench fax"))
    msg = compose_ifax_message(sender=Address("Sender", addr_spec=sender), to=to,
                               subject="Fax", date=1_800_000_000.0, message_id=message_id,
                               tiff=tiff, pages=1, filename="fax.tif")
    return msg.as_bytes(policy=email.policy.SMTP)
