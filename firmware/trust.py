"""The device's trust store: which certificate authorities it accepts for TLS.

It holds the public roots (certifi, as a real MFP ships a root list) plus the CAs an
administrator imported (the bench CA, a company CA). Every TLS client on the device (msal's
HTTPS, SMTP, POP3) verifies against it. msal talks through `requests`, and this environment
sets REQUESTS_CA_BUNDLE, which would silently replace `verify=`: the session made here ignores
the environment (`trust_env = False`).

Every client also connects through here, so the device's network link (`hwsim.network`) is
checked in one place: `check_link(where)` before a mail client opens its socket, and the HTTP
session's every request, so a pulled cable fails them all as it would on the device.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import certifi
import requests
from cryptography import x509

from mfp_sim.hwsim.network import NetworkLink
from mfp_sim.hwsim.private import private_dir, write_private

from .errors import FirmwareError

__all__ = ["TrustStore", "TrustError"]


class TrustError(FirmwareError):
    pass


def _check_pem(pem: bytes, origin: str) -> bytes:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise TrustError(f"{origin} is not a PEM certificate: {exc}") from exc
    if not certs:
        raise TrustError(f"{origin} holds no certificate")
    return pem.strip() + b"\n"


class _LinkedSession(requests.Session):
    """A requests session whose every request first needs the network link up."""

    def __init__(self, link: NetworkLink) -> None:
        super().__init__()
        self._link = link

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        try:
            self._link.check(str(request.url or ""))
        except OSError as exc:
            raise requests.exceptions.ConnectionError(exc, request=request) from exc
        return super().send(request, **kwargs)


class TrustStore:
    def __init__(self, directory: Path, imported: Iterable[bytes] = (),
                 link: NetworkLink | None = None) -> None:
        self._dir = Path(directory)
        self.link = link if link is not None else NetworkLink()
        self.version = 0  # bumped when the trusted set changes: sessions made before are stale
        self._imported: list[bytes] = []
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
        return self._dir / "ca-bundle.pem"

    def _write(self) -> None:
        private_dir(self._dir)
        data = Path(certifi.where()).read_bytes() + b"\n" + b"".join(self._imported)
        write_private(self.bundle_path, data, sync=False)  # rebuilt from NVRAM at every start
        self._ctx: ssl.SSLContext | None = None
        self.version += 1

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that checks certificates and host names against this store."""
        if self._ctx is None:
            self._ctx = ssl.create_default_context(cafile=str(self.bundle_path))
        return self._ctx

    def check_link(self, where: str) -> None:
        """Raise `hwsim.network.LinkDown` (an OSError) when the network cable is out."""
        self.link.check(where)

    def http_session(self) -> requests.Session:
        session = _LinkedSession(self.link)
        session.trust_env = False
        session.verify = str(self.bundle_path)
        return session
