"""A POP3 receiver: Internet Fax receive (`pop.ifax`) or E-mail Print (`pop.emailprint`).

Each POP setting has its own `PopPoller` and its own token store: a token in one gives
nothing to the other. When the setting is `enabled`, the poller checks the mailbox every
`check_interval` minutes of device time; `check_now()` polls at once (console `mail check`).

One poll, and why it is in this order:

    connect, TLS, sign in        (USER/PASS, or XOAUTH2 with one token renewal on refusal)
    UIDL, LIST                   what is there, and how big
    for each message, in batches of `BATCH`:
        skip it if the ledger knows its UIDL (left on the server, or handled before a crash)
        RETR, then print: Internet Fax decodes the TIFF-F pages; E-mail Print takes PDF and
        image attachments; a message whose Message-ID was printed before is a duplicate
        fsync the printed files, write the batch to the ledger (one NVRAM transaction),
        and only then DELE the batch (unless `leave_copy`)
    QUIT                         the server deletes now (RFC 1939: no QUIT, no deletion)

So a power cut at any instant loses nothing (no QUIT, nothing deleted) and prints nothing
twice: printed output is named after the message (`<rx-id>-...` in the tray), and a message
whose output is already in the tray is recorded, not printed again. The one gap: a cut in
the middle of a multi-page print leaves the pages printed so far (as a real printer would).

What fails is told apart for the administrator, with the server's words unchanged: refused
port or unreachable host (`connect`), TLS (`tls`), refused login (`auth`, the -ERR line as
sent), token that cannot be renewed (`token`), broken or hostile server (`receive`). Each
failure is published as an `alert` event with `source`, `step` and `reason`.
"""

from __future__ import annotations

import asyncio
import email.policy
import hashlib
import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from pathlib import Path

from PIL import Image

from hwsim.clock import Clock
from hwsim.errors import HwsimError
from hwsim.nvram import Nvram
from hwsim.printer import OutputTray

from ..errors import FirmwareError, TokenUnavailable
from ..events import EventBus
from ..ifax import Attachment, IfaxError, decode_tiff_f, extract_documents
from ..pop3 import (
    Pop3AuthError,
    Pop3Client,
    Pop3ConnectError,
    Pop3Error,
    Pop3ProtocolError,
    Pop3ServerError,
    Pop3Timeout,
    Pop3TlsError,
    Pop3TokenRejected,
)
from ..settings import AuthMethod, PopSettings
from ..tokens.machine import TokenState
from ..tokens.store import BearerToken, TokenStore, mask
from ..trust import TrustStore
from .errors import (
    TOKEN_UPDATE_FAILED,
    MailAuthError,
    MailConnectError,
    MailFailure,
    MailProtocolError,
    MailTimeoutError,
    MailTlsError,
    MailTokenError,
)
from .ledger import Handled, ReceiveLedger
from .task import stop_task

__all__ = ["BATCH", "MAX_MESSAGE_SIZE", "PollResult", "PopPoller"]

log = logging.getLogger(__name__)

#: Messages printed, then recorded and deleted, per batch.
BATCH = 50
#: Larger messages are not downloaded (Exchange Online's default limit is about this size).
MAX_MESSAGE_SIZE = 25 * 1024 * 1024
#: RFC 3206 codes after which trying again later is the right thing.
_TEMPORARY_CODES = ("[IN-USE]", "[LOGIN-DELAY]", "[SYS/TEMP]")


@dataclass
class PollResult:
    """What one poll did (the console's `mail check` prints it)."""

    section: str
    ok: bool = True
    step: str = ""
    reason: str = ""
    on_server: int = 0
    received: int = 0
    printed: int = 0
    duplicates: int = 0
    refused: int = 0
    deleted: int = 0
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Outcome:
    outcome: str  # printed | duplicate | refused
    files: tuple[Path, ...] = ()
    reason: str = ""
    pages: int = 0


class PopPoller:
    def __init__(
        self,
        section: str,
        *,
        settings: Callable[[], PopSettings],
        store: TokenStore,
        trust: TrustStore,
        clock: Clock,
        nvram: Nvram,
        events: EventBus,
        tray: OutputTray,
    ) -> None:
        self.section = section
        self.kind = "fax" if section == "pop.ifax" else "print"
        self._settings = settings
        self._store = store
        self._trust = trust
        self._clock = clock
        self._events = events
        self._tray = tray
        self.ledger = ReceiveLedger(nvram, section)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last: PollResult | None = None
        self.next_check_at: float | None = None

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name=f"poll.{self.section}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)

    def settings_changed(self) -> None:
        """Enabled, interval or server changed: reschedule from now."""
        self.next_check_at = None
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            cfg = self._settings()
            if not cfg.enabled:
                self.next_check_at = None
                await self._wake.wait()
                continue
            if self.next_check_at is None:
                self.next_check_at = self._clock.now() + cfg.check_interval * 60
            if self._clock.now() >= self.next_check_at:
                self.next_check_at = self._clock.now() + cfg.check_interval * 60
                await self.check_now()
                continue
            waiters = [asyncio.ensure_future(self._wake.wait()),
                       asyncio.ensure_future(self._clock.sleep_until(self.next_check_at))]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()

    # ------------------------------------------------------------------ poll
    async def check_now(self) -> PollResult:
        """Poll the mailbox once, now; never raises for a mail failure (see `.ok`)."""
        async with self._lock:
            result = PollResult(self.section)
            try:
                await self._poll(self._settings(), result)
            except MailFailure as exc:
                result.ok, result.step, result.reason = False, exc.step, str(exc)
            except FirmwareError as exc:
                result.ok, result.step, result.reason = False, "receive", str(exc)
            except (HwsimError, OSError, ValueError) as exc:  # tray, NVRAM, a library surprise
                log.exception("%s: poll failed", self.section)
                result.ok, result.step = False, "receive"
                result.reason = f"Internal error: {type(exc).__name__}: {exc}"
            if not result.ok:
                log.warning("%s: %s failed: %s", self.section, result.step, result.reason)
                self._events.publish("alert", source=self.section, step=result.step,
                                     reason=result.reason)
            self.last = result
            return result

    async def probe(self, notes: list[str]) -> int:
        """Connect, secure, sign in, STAT, QUIT (the connection test); returns messages waiting."""
        cfg = self._settings()
        pop = await self._open(cfg, notes)
        try:
            count, size = await pop.stat()
            notes.append(f"{count} message(s) waiting ({size} octets)")
            await pop.quit()
            return count
        except Pop3Error as exc:
            raise _mail_failure(exc, "receive") from exc
        finally:
            await pop.close()

    async def _poll(self, cfg: PopSettings, result: PollResult) -> None:
        pop = await self._open(cfg, [])
        try:
            await self._drain(pop, cfg, result)
            await pop.quit()
        except Pop3Error as exc:
            raise _mail_failure(exc, "receive") from exc
        finally:
            await pop.close()

    async def _open(self, cfg: PopSettings, notes: list[str]) -> Pop3Client:
        if not cfg.server:
            raise MailConnectError(f"{self.section}.server is not set: enter the POP3 server",
                                   temporary=False)
        pop = Pop3Client(cfg.server, cfg.port, security=cfg.security,
                         ssl_context=self._trust.ssl_context(), timeout=float(cfg.timeout),
                         max_message_size=MAX_MESSAGE_SIZE)
        try:
            greeting = await pop.connect()
            notes.append(f"connected to {cfg.server}:{cfg.port}: {greeting}")
            if cfg.security.value != "off":
                notes.append(f"TLS ({cfg.security.value}): certificate and host name verified")
            await self._sign_in(pop, cfg, notes)
        except Pop3Error as exc:
            await pop.close()
            raise _mail_failure(exc, "connect") from exc
        except BaseException:
            await pop.close()
            raise
        return pop

    async def _sign_in(self, pop: Pop3Client, cfg: PopSettings, notes: list[str]) -> None:
        if cfg.auth is AuthMethod.OAUTH2:
            token = await self._token()
            try:
                await pop.login_xoauth2(token.account, token.access_token)
            except Pop3TokenRejected as exc:
                log.info("%s: XOAUTH2 refused for %s (%s): %s; renewing the token once",
                         self.section, token.account, mask(token.access_token), exc.text)
                renewed = await self._renew(token, exc.text)
                try:
                    await pop.login_xoauth2(renewed.account, renewed.access_token)
                except Pop3TokenRejected as again:
                    raise MailAuthError(
                        f"the server refused the token even after renewal: {again.text}",
                        server_text=again.text) from again
                token = renewed
            notes.append(f"signed in with XOAUTH2 as {token.account}")
            return
        if not cfg.user:
            raise MailAuthError(f"{self.section}.user is not set: enter the POP3 user name")
        await pop.login_user_pass(cfg.user, cfg.password)
        notes.append(f"signed in with USER/PASS as {cfg.user}")

    async def _token(self) -> BearerToken:
        try:
            return await self._store.access_token()
        except TokenUnavailable as exc:
            raise self._token_failure(str(exc)) from exc

    async def _renew(self, used: BearerToken, refusal: str) -> BearerToken:
        try:
            state = await self._store.refresh()
        except TokenUnavailable as exc:
            raise self._token_failure(f"{refusal}; {exc}", refusal) from exc
        if state is not TokenState.RETRIEVED:
            raise self._token_failure(f"the server refused the token ({refusal}) and renewing "
                                      f"it failed: {self._store.status().reason}", refusal)
        token = await self._token()
        if token.access_token == used.access_token:
            raise MailTokenError(
                f"the server refused the token ({refusal}) and it could not be renewed now "
                f"({self._store.status().reason or 'no new token'}); will try again",
                server_text=refusal, temporary=True, step="token")
        return token

    def _token_failure(self, detail: str, server_text: str = "") -> MailTokenError:
        state = self._store.state
        if state is TokenState.INVALID:
            return MailTokenError(f"{TOKEN_UPDATE_FAILED} ({detail})", server_text=server_text,
                                  step="token")
        if state is TokenState.RETRIEVED:
            return MailTokenError(detail, server_text=server_text, temporary=True, step="token")
        return MailTokenError(f"{detail}. Obtain the {self.section} token first "
                              f"(token {self.section} get)", server_text=server_text,
                              step="token")

    # ---------------------------------------------------------------- drain
    async def _drain(self, pop: Pop3Client, cfg: PopSettings, result: PollResult) -> None:
        uids = await pop.uidl()
        sizes = await pop.list()
        result.on_server = len(uids)
        self.ledger.prune(uids.values(), self._clock.now())
        in_tray = self._tray_ids()
        printed_now: set[str] = set()  # Message-IDs printed in this poll, not yet recorded
        batch: list[tuple[int, Handled]] = []
        for number in sorted(uids):
            uid = uids[number]
            if self.ledger.has_uid(uid):
                # Handled before; still here because of leave_copy, or a power cut before QUIT.
                if not cfg.leave_copy and self.ledger.outcome(uid) != "too_large":
                    batch.append((number, Handled(uid, "", "duplicate", self._clock.now())))
                continue
            rx_id = self._rx_id(uid)
            if rx_id in in_tray:  # printed just before a power cut, not recorded yet
                batch.append((number, Handled(uid, "", "printed", self._clock.now())))
                result.duplicates += 1
            elif sizes.get(number, 0) > MAX_MESSAGE_SIZE:
                reason = (f"message {number} is {sizes[number]} bytes; the device takes at most "
                          f"{MAX_MESSAGE_SIZE} bytes. It was left on the server")
                self._events.publish("alert", source=self.section, step="receive", reason=reason)
                self.ledger.record([Handled(uid, "", "too_large", self._clock.now())])
                result.refused += 1
                continue
            else:
                raw = await pop.retr(number)
                result.received += 1
                handled = await self._handle(raw, uid, rx_id, result, printed_now)
                batch.append((number, handled))
            if len(batch) >= BATCH:
                await self._commit(pop, cfg, batch, result)
                batch = []
        await self._commit(pop, cfg, batch, result)

    async def _commit(self, pop: Pop3Client, cfg: PopSettings,
                      batch: list[tuple[int, Handled]], result: PollResult) -> None:
        """Printed output is durable, then the ledger, then (only then) DELE."""
        if not batch:
            return
        await asyncio.to_thread(_sync_folder, self._tray.folder)
        self.ledger.record(h for _, h in batch if not self.ledger.has_uid(h.uid))
        if cfg.leave_copy:
            return
        for number, _ in batch:
            await pop.dele(number)
            result.deleted += 1

    async def _handle(self, raw: bytes, uid: str, rx_id: str, result: PollResult,
                      printed_now: set[str]) -> Handled:
        sender, subject, message_id = _headers(raw)
        now = self._clock.now()
        if message_id and (message_id in printed_now or self.ledger.has_message_id(message_id)):
            result.duplicates += 1
            log.info("%s: %s from %s already printed (same Message-ID)", self.section,
                     message_id, sender)
            return Handled(uid, message_id, "duplicate", now)
        outcome = await asyncio.to_thread(self._print, raw, rx_id)
        if outcome.outcome == "refused":
            result.refused += 1
            reason = f"message from {sender or 'unknown sender'} ({subject!r}): {outcome.reason}"
            self._events.publish("alert", source=self.section, step="print", reason=reason)
            return Handled(uid, message_id, "refused", now)
        result.printed += 1
        names = [p.name for p in outcome.files]
        result.files += names
        self._events.publish(self.kind, source=self.section, id=rx_id, sender=sender,
                             subject=subject, pages=outcome.pages, files=",".join(names))
        if message_id:  # a second copy later in this same poll is a duplicate too
            printed_now.add(message_id)
        return Handled(uid, message_id, "printed", now)

    def _print(self, raw: bytes, rx_id: str) -> _Outcome:
        """Decode and print one message (worker thread): Internet Fax or E-mail Print."""
        try:
            documents = extract_documents(raw)
        except IfaxError as exc:
            return _Outcome("refused", reason=f"not a readable message: {exc}")
        try:
            if self.kind == "fax":
                return self._print_fax(documents, rx_id)
            return self._print_documents(documents, rx_id)
        except HwsimError as exc:  # the tray could not take it
            return _Outcome("refused", reason=f"the output tray refused it: {exc}")

    def _print_fax(self, documents: list[Attachment], rx_id: str) -> _Outcome:
        tiffs = [d for d in documents if d.content_type == "image/tiff"]
        if not tiffs:
            found = ", ".join(d.content_type for d in documents) or "no attachment"
            return _Outcome("refused", reason=f"not an Internet Fax: no TIFF image ({found})")
        try:  # decode everything before printing anything: no half-printed refusals
            images = [page for doc in tiffs for page in decode_tiff_f(doc.data)]
        except IfaxError as exc:
            return _Outcome("refused", reason=str(exc))
        files = self._tray.print_pages(rx_id, "fax", images)
        _sync_files(files)
        return _Outcome("printed", tuple(files), pages=len(images))

    def _print_documents(self, documents: list[Attachment], rx_id: str) -> _Outcome:
        if not documents:
            return _Outcome("refused", reason="no PDF or image attachment to print")
        files: list[Path] = []
        for doc in documents:
            problem = _check_document(doc.content_type, doc.data)
            if problem:
                return _Outcome("refused", reason=f"{doc.filename}: {problem}")
        for doc in documents:
            stem, _, ext = doc.filename.rpartition(".")
            ext = _EXT.get(doc.content_type, ext or "bin")
            files.append(self._tray.print_document(rx_id, stem or doc.filename, doc.data, ext))
        _sync_files(files)
        return _Outcome("printed", tuple(files), pages=len(files))

    def _rx_id(self, uid: str) -> str:
        """The tray name of a received message: the same for the same message, always."""
        digest = hashlib.sha1(f"{self.section}\0{uid}".encode()).hexdigest()[:12]
        return f"{self.kind}{digest}"

    def _tray_ids(self) -> set[str]:
        try:
            return {e.name.split("-", 1)[0] for e in os.scandir(self._tray.folder)
                    if e.is_file() and e.name.startswith(self.kind)}
        except OSError:
            return set()


_EXT = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "image/tiff": "tif"}


def _check_document(content_type: str, data: bytes) -> str:
    """Why this attachment cannot be printed, or "" when it can."""
    if content_type == "application/pdf":
        return "" if data.lstrip()[:5] == b"%PDF-" else "not a PDF file (no %PDF- header)"
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Exception as exc:
        return f"the {content_type} image cannot be decoded ({type(exc).__name__})"
    return ""


def _headers(raw: bytes) -> tuple[str, str, str]:
    """From, Subject and Message-ID, or empty strings when a header is missing or broken.

    The compat32 header parser is used on purpose: it is several times faster than the
    `email.policy.default` one, and a 1,000-message mailbox is parsed header by header.
    """
    values = []
    try:
        msg = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        for name in ("From", "Subject", "Message-ID"):
            value = msg.get(name)
            if value is None:
                values.append("")
                continue
            try:
                text = str(make_header(decode_header(str(value))))
            except (ValueError, LookupError, UnicodeError):
                text = str(value)
            values.append(" ".join(text.split())[:200])
    except Exception:
        return "", "", ""
    return values[0], values[1], values[2]


def _sync_files(paths: list[Path]) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mail_failure(exc: Pop3Error, during: str) -> MailFailure:
    """The POP3 client's error as the device reports it, the server's line unchanged."""
    if isinstance(exc, Pop3Timeout):
        return MailTimeoutError(f"POP3: {exc}", step="connect" if during == "connect"
                                else "receive")
    if isinstance(exc, Pop3TlsError):
        hint = (" (the server did not answer in TLS: this port may be plain POP3 - 110 needs "
                "security starttls or off, 995 security ssl)"
                if "WRONG_VERSION_NUMBER" in str(exc) else "")
        return MailTlsError(f"POP3: {exc}{hint}", server_text=exc.text or "")
    if isinstance(exc, Pop3ConnectError):
        if isinstance(exc.__cause__, ConnectionRefusedError):
            return MailConnectError(f"POP3: {exc}: connection refused - nothing listens on that "
                                    "port, or a firewall blocks it (this is not a login problem)")
        return MailConnectError(f"POP3: {exc}", step="connect" if during == "connect"
                                else "receive")
    if isinstance(exc, Pop3ProtocolError):
        return MailProtocolError(f"POP3 server sent something that is not POP3: {exc}")
    if isinstance(exc, Pop3TokenRejected):
        return MailAuthError(f"the server refused the token: {exc.text}", server_text=exc.text)
    if isinstance(exc, Pop3AuthError):
        return MailAuthError(f"the server refused the login: {exc.text}", server_text=exc.text)
    if isinstance(exc, Pop3ServerError):
        temporary = any(code in exc.text for code in _TEMPORARY_CODES)
        step = "auth" if during == "connect" and exc.resp_code else during
        return MailFailure(f"the server said: {exc.text}", server_text=exc.text, step=step,
                           temporary=temporary)
    return MailProtocolError(f"POP3: {exc}")
