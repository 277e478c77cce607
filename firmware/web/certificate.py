"""The web server's own TLS certificate, made by the device from its own key.

A real MFP makes a key pair and a self-signed certificate the first time it starts, and lets
the administrator replace that certificate by one a CA issued for the device's key (a
certificate signing request) or import a certificate with its key. The same here:

- at first start: an EC P-256 key and a self-signed certificate for the configured names
  (the first is the common name; each is also a subject alternative name, an IP address
  where it is one). If the names change later, the self-signed certificate is made again
  for the same key;
- `csr()` gives a signing request for the device key and names; `install(cert)` takes the
  certificate a CA issued for it (the demo has the bench CA issue one, so a browser that
  imported the bench CA shows no warning); `install(cert, key)` takes a certificate with its
  own key (`mfp-sim device --web-cert --web-key`).

Key and certificate are one NVRAM record, sealed with the device key like every other secret.
The key leaves NVRAM only to load the TLS context, through a private temporary file removed at
once (Python's ssl module loads keys from files only).

Validity is checked against the device clock, but a browser checks against its own clock: a
self-made certificate therefore starts a year before the device's "now", so a device clock
that runs ahead (a virtual clock starts in 2027) still gives a certificate browsers accept.
"""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mfp_sim.hwsim.errors import KeystoreError
from mfp_sim.hwsim.keystore import KeyStore
from mfp_sim.hwsim.nvram import Nvram

from ..certinfo import CertificateInfo, describe
from .errors import CertificateError

__all__ = ["DeviceCertificate", "DEFAULT_NAMES", "check_names"]

RECORD = "web.certificate"
#: What the device answers to when nobody configured its names: its loopback addresses.
DEFAULT_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost")
#: A self-made certificate is valid this long from the device's now.
LIFETIME = timedelta(days=825)
#: ... and from this long before it (browsers check with their own clock).
BACKDATE = timedelta(days=365)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def check_names(names: Sequence[str]) -> tuple[str, ...]:
    """The names a certificate is made for, checked: host names or IP addresses, at least one."""
    cleaned = tuple(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    if not cleaned:
        raise CertificateError("the device certificate needs at least one name (host name or IP)")
    for name in cleaned:
        try:
            ipaddress.ip_address(name)
            continue
        except ValueError:
            pass
        labels = name.rstrip(".").split(".")
        if len(name) > 253 or not all(
                0 < len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
                and not label.startswith("-") and not label.endswith("-") for label in labels):
            raise CertificateError(f"{name!r} is not a host name or IP address: use letters, "
                                   "digits, '-' and '.' (e.g. mfp.example.com) or 192.0.2.10")
    return cleaned


def _san(names: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _pem_key(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _public_der(key: PrivateKey | x509.Certificate) -> bytes:
    public = key.public_key()
    return public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


class DeviceCertificate:
    """The device's key and its web server certificate, kept sealed in NVRAM."""

    def __init__(self, nvram: Nvram, keystore: KeyStore, now: Callable[[], float],
                 names: Sequence[str] = DEFAULT_NAMES) -> None:
        self._nvram = nvram
        self._keys = keystore
        self._now = now
        self.names = check_names(names)
        self._key: PrivateKey
        self._cert: x509.Certificate
        self.installed = False  # True: issued by someone else (a CA, or imported with its key)
        self.problem = ""  # why a stored record was not used (shown on the Security page)
        self._load_or_make()

    # ------------------------------------------------------------ reading
    @property
    def info(self) -> CertificateInfo:
        return describe(self._cert)

    @property
    def cert_pem(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.PEM)

    def server_context(self) -> ssl.SSLContext:
        """A TLS server context with this certificate (TLS 1.2 and up)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        with tempfile.TemporaryDirectory(prefix="mfp-web-") as tmp:
            key_path = Path(tmp) / "key.pem"
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(_pem_key(self._key))
            cert_path = Path(tmp) / "cert.pem"
            cert_path.write_bytes(self.cert_pem)
            ctx.load_cert_chain(cert_path, key_path)
        return ctx

    def csr(self) -> bytes:
        """A certificate signing request (PEM) for the device key and its names."""
        builder = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.names[0])])
        ).add_extension(_san(self.names), critical=False)
        return builder.sign(self._key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    # ------------------------------------------------------------ changing
    def install(self, cert_pem: bytes, key_pem: bytes | None = None) -> CertificateInfo:
        """Use a certificate a CA issued for the device key, or one with its own key.

        Refused (and nothing changed) when it does not parse, does not match the key, or is
        not valid now on the device clock.
        """
        try:
            certs = x509.load_pem_x509_certificates(cert_pem)
        except ValueError:
            raise CertificateError("the certificate is not PEM: expected text starting with "
                                   "-----BEGIN CERTIFICATE-----") from None
        cert = certs[0]
        key = self._key
        if key_pem is not None:
            key = self._parse_key(key_pem)
        if _public_der(cert) != _public_der(key):
            raise CertificateError(
                "the certificate is not for this key: it must be issued for the device's own "
                "key (from its signing request), or come with its own key")
        info = describe(cert)
        now = self._now()
        if info.not_after <= now:
            raise CertificateError(f"the certificate expired on {_date(info.not_after)}")
        if info.not_before > now:
            raise CertificateError(f"the certificate is valid only from {_date(info.not_before)}")
        self._key, self._cert, self.installed = key, cert, True
        self._save()
        return info

    def _parse_key(self, key_pem: bytes) -> PrivateKey:
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError):
            raise CertificateError("the key is not an unencrypted PEM private key") from None
        if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
            raise CertificateError("the key must be an EC or RSA key")
        return key

    # ------------------------------------------------------------ plumbing
    def _load_or_make(self) -> None:
        blob = self._nvram.read(RECORD)
        if blob is not None:
            try:
                record = json.loads(self._keys.open(blob, context=RECORD))
                self._key = self._parse_key(record["key"].encode())
                self._cert = x509.load_pem_x509_certificate(record["cert"].encode())
                self.installed = bool(record.get("installed"))
            except (KeystoreError, ValueError, KeyError, TypeError, CertificateError) as exc:
                self.problem = f"the stored web certificate could not be read ({exc}); a new one was made"
                blob = None
        if blob is None:
            self._key = ec.generate_private_key(ec.SECP256R1())
            self._cert = self._self_signed()
            self.installed = False
            self._save()
        elif not self.installed and set(self.info.names) != set(self.names):
            self._cert = self._self_signed()  # names changed: same key, new certificate
            self._save()

    def _self_signed(self) -> x509.Certificate:
        now = datetime.fromtimestamp(self._now(), UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.names[0]),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mfp-sim device")])
        return (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE).not_valid_after(now + LIFETIME)
            .add_extension(_san(self.names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    def _save(self) -> None:
        record = {"key": _pem_key(self._key).decode(), "cert": self.cert_pem.decode(),
                  "installed": self.installed}
        self._nvram.write(RECORD, self._keys.seal(json.dumps(record).encode(), context=RECORD))


def _date(timestamp: float) -> str:
    return f"{datetime.fromtimestamp(timestamp, UTC):%Y-%m-%d %H:%M} UTC"
