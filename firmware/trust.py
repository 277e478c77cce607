"""The device's trust store: which certificate authorities it accepts for TLS.

It holds the public roots (certifi, as a real MFP ships a root list) plus the CAs an
administrator imported (the bench CA, a company CA). Every TLS client on the device verifies
against it through ONE `ssl.SSLContext` per version of the trusted set: SMTP and POP3 get it
from `ssl_context()`, the identity-provider HTTPS session (`firmware.tokens.http`) hands the
same object to urllib3's pool. Loading the whole CA bundle costs about 0.7 MB and 36 ms per
context, so building one per connection (what requests does by default) or per device is
what made a device weigh megabytes.

Devices in one process whose trusted sets are equal share the context too: contexts are kept
in a small process-wide table keyed by the SHA-256 of the bundle, held weakly so that a
context nobody uses any more goes away with its last device. A context is never changed after
it is made (an import makes a new bundle, hence a new key and context), so sharing it between
threads and devices is safe.

Every client also connects through here, so the device's network link (`hwsim.network`) is
checked in one place: `check_link(where)` before a mail client opens its socket, and the
identity-provider session before each request (it is given `link`), so a pulled cable fails
them all as it would on the device.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import ssl
import threading
import weakref
from collections.abc import Iterable
from pathlib import Path

import certifi
from cryptography import x509

from mfp_sim.hwsim.network import NetworkLink
from mfp_sim.hwsim.private import private_dir, write_private

from .errors import FirmwareError

__all__ = ["TrustStore", "TrustError", "public_roots", "shared_context"]

log = logging.getLogger(__name__)


class TrustError(FirmwareError):
    pass


_CONTEXTS: weakref.WeakValueDictionary[str, ssl.SSLContext] = weakref.WeakValueDictionary()
_CONTEXTS_LOCK = threading.Lock()


def shared_context(bundle: bytes) -> ssl.SSLContext:
    """The one client context for this CA bundle in this process (made on first use)."""
    key = hashlib.sha256(bundle).hexdigest()
    with _CONTEXTS_LOCK:
        ctx = _CONTEXTS.get(key)
        if ctx is None:
            ctx = ssl.create_default_context(cadata=bundle.decode("ascii", errors="replace"))
            _CONTEXTS[key] = ctx
        return ctx


@functools.cache
def public_roots() -> bytes:
    """The public root list (certifi's file), read once per process: it does not change while
    the firmware runs, and a boot would otherwise read its 290 KB two or three times (the
    bundle at start, again after an import, again for the context) on the event loop."""
    return Path(certifi.where()).read_bytes()


def _check_pem(pem: bytes, origin: str) -> bytes:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise TrustError(f"{origin} is not a PEM certificate: {exc}") from exc
    if not certs:
        raise TrustError(f"{origin} holds no certificate")
    return pem.strip() + b"\n"


class TrustStore:
    def __init__(self, directory: Path, imported: Iterable[bytes] = (),
                 link: NetworkLink | None = None) -> None:
        self._dir = Path(directory)
        self.link = link if link is not None else NetworkLink()
        self.version = 0  # bumped when the trusted set changes: sessions made before are stale
        self._imported: list[bytes] = []
        self._ctx: ssl.SSLContext | None = None
        for i, pem in enumerate(imported):
            self._imported.append(_check_pem(pem, f"imported CA #{i + 1}"))
        self._write()

    @staticmethod
    def read_ca_file(path: Path) -> bytes:
        try:
            return _check_pem(Path(path).read_bytes(), str(path))
        except OSError as exc:
            raise TrustError(f"cannot read CA file {path}: {exc}") from exc

    @property
    def imported(self) -> list[bytes]:
        return list(self._imported)

    def add(self, pem: bytes) -> None:
        pem = _check_pem(pem, "CA certificate")
        if pem not in self._imported:
            self._imported.append(pem)
            self._write()

    @property
    def bundle_path(self) -> Path:
        """The bundle as a file, for tools that want one (openssl, curl on the bench)."""
        return self._dir / "ca-bundle.pem"

    def _bundle(self) -> bytes:
        return public_roots() + b"\n" + b"".join(self._imported)

    def _write(self) -> None:
        private_dir(self._dir)
        write_private(self.bundle_path, self._bundle(), sync=False)  # rebuilt from NVRAM at every start
        self._ctx = None
        self.version += 1

    def ssl_context(self) -> ssl.SSLContext:
        """The client context that checks certificates and host names against this store.

        The same object for every connection until the trusted set changes, and the same as
        other devices' in this process when their sets are equal.
        """
        if self._ctx is None:
            self._ctx = shared_context(self._bundle())
        return self._ctx

    def prepare(self) -> None:
        """Start building the context now, in a worker thread; nothing waits for it.

        Power-on calls it, as a real device loads its root list at boot: the first TLS
        client (the first Get Token of a fresh device, the first poll) then finds the context
        made instead of loading the CA bundle on the event loop (16-36 ms, issue 9). The
        thread only builds it; the store takes it on the loop, and only if the trusted set
        did not change meanwhile (an import makes a new bundle: that context is not taken).
        """
        if self._ctx is not None:
            return
        version, bundle = self.version, self._bundle()

        def built(done: asyncio.Future[ssl.SSLContext]) -> None:
            if done.cancelled():
                return
            if done.exception() is not None:  # the first client raises it again, and says so
                log.debug("preparing the TLS context failed: %r", done.exception())
            elif self.version == version and self._ctx is None:
                self._ctx = done.result()

        future = asyncio.get_running_loop().run_in_executor(None, shared_context, bundle)
        future.add_done_callback(built)

    def check_link(self, where: str) -> None:
        """Raise `hwsim.network.LinkDown` (an OSError) when the network cable is out."""
        self.link.check(where)
