"""What a person needs to know about a certificate, read from its PEM: for the faces' lists.

The web page's Security page lists the device's own certificate and the CAs the administrator
imported; the same summary serves both, and the check that an uploaded file is a CA at all
(a server's own certificate imported as a "CA" would silently trust nothing).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from .trust import TrustError

__all__ = ["CertificateInfo", "describe", "check_ca", "load_certificates", "is_ip"]


@dataclass(frozen=True)
class CertificateInfo:
    subject: str  # the common name, or the whole subject when it has none
    issuer: str
    not_before: float
    not_after: float
    sha256: str  # fingerprint, colon-separated upper-case hex, as browsers show it
    names: tuple[str, ...] = ()  # subject alternative names (DNS and IP)
    is_ca: bool = False

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer


def _name(name: x509.Name) -> str:
    common = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if common:
        return str(common[0].value)
    return name.rfc4514_string() or "(no name)"


def _timestamp(moment: datetime) -> float:
    return moment.timestamp()


def describe(cert: x509.Certificate) -> CertificateInfo:
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = (*sans.get_values_for_type(x509.DNSName),
                 *(str(ip) for ip in sans.get_values_for_type(x509.IPAddress)))
    except x509.ExtensionNotFound:
        names = ()
    try:
        is_ca = bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        is_ca = False
    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest().upper()
    return CertificateInfo(
        subject=_name(cert.subject), issuer=_name(cert.issuer),
        not_before=_timestamp(cert.not_valid_before_utc),
        not_after=_timestamp(cert.not_valid_after_utc),
        sha256=":".join(digest[i:i + 2] for i in range(0, len(digest), 2)),
        names=names, is_ca=is_ca)


def load_certificates(pem: bytes, origin: str) -> list[x509.Certificate]:
    """Every certificate of a PEM file, or `TrustError` saying why there is none."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise TrustError(f"{origin} is not a PEM certificate: expected text starting with "
                         "-----BEGIN CERTIFICATE-----") from None
    if not certs:
        raise TrustError(f"{origin} holds no certificate")
    return certs


def check_ca(pem: bytes, origin: str, now: float) -> list[CertificateInfo]:
    """The certificates of an uploaded CA file, refused unless each is a CA valid `now`."""
    infos = [describe(c) for c in load_certificates(pem, origin)]
    for info in infos:
        if not info.is_ca:
            raise TrustError(
                f"{origin}: {info.subject} is not a CA certificate (it cannot issue others): "
                "import the certificate of the authority that issued the server's certificate")
        if info.not_after <= now:
            raise TrustError(f"{origin}: the CA {info.subject} expired on "
                             f"{datetime.fromtimestamp(info.not_after, UTC):%Y-%m-%d}")
    return infos


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
