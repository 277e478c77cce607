"""A certificate authority made per bench, so every TLS hop on the bench is real and verified.

The device trusts this CA the way an administrator imports a company CA on a real MFP; the
stdlib clients used as independent checks in tests trust it through `client_context()`.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme

__all__ = ["BenchCA"]


class BenchCA:
    """A trustme CA with one server certificate for 127.0.0.1 and localhost."""

    def __init__(self) -> None:
        self._ca = trustme.CA(organization_name="mfp-sim bench CA")
        self._server = self._ca.issue_cert("127.0.0.1", "localhost", "::1")

    def issue_server_cert(self, *hostnames: str) -> trustme.LeafCert:
        """Another certificate from this CA (the mail server's wrong-host-name option)."""
        return self._ca.issue_cert(*hostnames)

    @property
    def ca_pem(self) -> bytes:
        return self._ca.cert_pem.bytes()

    def write_ca(self, path: Path) -> Path:
        """Write the CA certificate (public part only) where devices and scripts can read it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.ca_pem)
        return path

    def server_context(self) -> ssl.SSLContext:
        """TLS context for the bench's servers (HTTPS, SMTPS/STARTTLS, POP3S/STLS)."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._server.configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """TLS context that trusts this CA only: for stdlib clients in tests."""
        ctx = ssl.create_default_context()
        self._ca.configure_trust(ctx)
        return ctx
