"""A certificate authority made per bench, so every TLS hop on the bench is real and verified.

The device trusts this CA the way an administrator imports a company CA on a real MFP; the
stdlib clients used as independent checks in tests trust it through `client_context()`.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

__all__ = ["BenchCA", "LOOPBACK"]


#: The names every bench server certificate carries.
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class BenchCA:
    """A trustme CA with one server certificate for 127.0.0.1 and localhost, and for the
    address a bench serves other machines on (`hosts`: `mfp-sim testbed --host`)."""

    def __init__(self, hosts: tuple[str, ...] = ()) -> None:
        self._ca = trustme.CA(organization_name="mfp-sim bench CA")
        self.hosts = LOOPBACK + tuple(h for h in hosts if h not in LOOPBACK)
        self._server = self._ca.issue_cert(*self.hosts)

    def issue_server_cert(self, *hostnames: str) -> trustme.LeafCert:
        """Another certificate from this CA (the mail server's wrong-host-name option)."""
        return self._ca.issue_cert(*hostnames)

    def sign_request(self, csr_pem: bytes, days: int = 365) -> bytes:
        """A server certificate (PEM) for a device's signing request: its key, its names.

        What an administrator does with a company CA for a real MFP's web page; the demo does
        it for the device's web page, so a browser that imported the bench CA trusts it. Valid
        from an hour ago on the host clock (the browser's), for `days`.
        """
        csr = x509.load_pem_x509_csr(csr_pem)
        if not csr.is_signature_valid:
            raise ValueError("the signing request's signature does not verify")
        ca_cert = x509.load_pem_x509_certificate(self.ca_pem)
        ca_key = serialization.load_pem_private_key(self._ca.private_key_pem.bytes(), None)
        if not isinstance(ca_key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
            raise ValueError("the bench CA key is of an unexpected type")
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca_cert.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        try:
            san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            builder = builder.add_extension(san.value, critical=False)
        except x509.ExtensionNotFound:
            pass
        return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

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
