"""Which certificate the bench mail server shows: the right one, or one a device must refuse.

A real device meets both mistakes in the field: a server certificate for another name (the
administrator typed an IP address or an alias the certificate does not cover) and a certificate
from a CA the device was never given (a company CA not imported, a self-signed server). The
choice is one value, switchable while the server runs (``POST {control_url}/config
{"mail_certificate": "wrong_host"}``): the listeners keep their one `ssl.SSLContext`, whose
certificate is replaced in place, so the next TLS handshake (implicit TLS, STARTTLS or STLS)
shows the new one.

==============  =================================================================================
trusted         issued by the bench CA for 127.0.0.1, localhost, ::1 (the default)
wrong_host      issued by the bench CA, but for ``wrong-host.example.test`` only
untrusted_ca    for 127.0.0.1, localhost, ::1, issued by a CA made on the spot that nobody trusts
==============  =================================================================================
"""

from __future__ import annotations

import ssl
from typing import Literal, Protocol

import trustme

__all__ = ["CERTIFICATE_CHOICES", "WRONG_HOST", "CertificateChoice", "ServerCertificates"]

CertificateChoice = Literal["trusted", "wrong_host", "untrusted_ca"]
CERTIFICATE_CHOICES: tuple[CertificateChoice, ...] = ("trusted", "wrong_host", "untrusted_ca")
WRONG_HOST = "wrong-host.example.test"


class IssuingCA(Protocol):
    """What is needed to make the certificates (`BenchCA` fits)."""

    hosts: tuple[str, ...]  # the names of the bench's own certificate

    def server_context(self) -> ssl.SSLContext: ...

    def issue_server_cert(self, *hostnames: str) -> trustme.LeafCert: ...


class ServerCertificates:
    """The mail server's TLS context and the certificate it currently carries."""

    def __init__(self, ca: IssuingCA, choice: CertificateChoice = "trusted") -> None:
        self._ca = ca
        self.context = ca.server_context()  # carries the trusted certificate
        self.choice: CertificateChoice = "trusted"
        self._leaves: dict[CertificateChoice, trustme.LeafCert] = {}
        self.use(choice)

    def use(self, choice: str) -> None:
        """Show `choice` from the next handshake on; ValueError names the choices."""
        if choice not in CERTIFICATE_CHOICES:
            raise ValueError(f"mail_certificate must be one of {', '.join(CERTIFICATE_CHOICES)}; "
                             f"got {choice!r}")
        if choice not in self._leaves:
            if choice == "trusted":
                self._leaves[choice] = self._ca.issue_server_cert(*self._ca.hosts)
            elif choice == "wrong_host":
                self._leaves[choice] = self._ca.issue_server_cert(WRONG_HOST)
            else:
                stranger = trustme.CA(organization_name="nobody's CA")
                self._leaves[choice] = stranger.issue_cert(*self._ca.hosts)
        self._leaves[choice].configure_cert(self.context)
        self.choice = choice
