"""The bench: identity provider and mail server around a device.

`Testbed` runs in the caller's event loop, so an in-process test shares one virtual clock
between device, identity provider and mail server. `mfp-sim testbed` runs the same thing as a
process and writes `testbed.json`, which `mfp-sim device --testbed` and scripts read:

    {"issuer", "ca_file", "control_url", "verification_uri", "authorize_url", "client_id",
     "scopes", "host", "clock", "idp_profile", "policy", "mail_certificate",
     "ports": {"idp", "smtp", "smtps", "pop3", "pop3s"}, "maildir_root", "mail_viewer",
     "state_dir"}

The mail server checks OAuth tokens with the identity provider's own verifier, so a token the
bench revokes or a user it disables is refused by SMTP and POP3 exactly as Exchange would.
Both servers share one fault board and one set of counters, so the IdP's control API arms the
whole fault catalogue (``/control/fault``) and reports what the device did (``/control/stats``);
the mail server's certificate is a knob of ``/control/config`` (``mail_certificate``).
Mail lands in `maildir_root/<address>/` (stdlib Maildir), where tests read it directly and the
mail viewer (`mail_viewer`, a page of the bench: tools/mailserver/viewer.py) shows it to people.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.providers import Provider
from mfp_sim.hwsim.clock import Clock

from .bench_ca import BenchCA
from .device_builder import build_device
from .idp import (
    CLIENT_ID,
    POP_SCOPE,
    SMTP_SCOPE,
    BenchStats,
    ExtraKnob,
    FaultBoard,
    IdentityProvider,
    IdpPolicy,
)
from .mailserver import CERTIFICATE_CHOICES, CertificateChoice, MailFaults, MailServer
from .mailserver.viewer import MailViewer
from .testbed_file import TestbedError, local_provider

__all__ = ["Testbed"]

class Testbed:
    __test__ = False  # not a pytest test class, whatever its name
    def __init__(
        self,
        state_dir: Path,
        clock: Clock,
        *,
        policy: IdpPolicy | None = None,
        profile: str | None = None,
        faults: MailFaults | None = None,
        mail: bool = True,
        mail_certificate: CertificateChoice = "trusted",
        host: str = "127.0.0.1",
    ) -> None:
        """`profile` (``entra``, ``keycloak``, ``google``, ``generic``) or a whole `policy`.

        `host`: the address the servers listen on and name in their URLs and certificates;
        another machine's address serves devices elsewhere (a fleet across machines), and then
        the control API, which has no authentication, is reachable from that network too."""
        if policy is not None and profile is not None:
            raise TestbedError("give the identity provider a profile or a policy, not both")
        if mail_certificate not in CERTIFICATE_CHOICES:
            raise TestbedError(f"mail_certificate must be one of {', '.join(CERTIFICATE_CHOICES)}")
        self.state_dir = Path(state_dir)
        self.clock = clock
        try:
            start_policy = policy or IdpPolicy.for_profile(profile or "entra")
        except ValueError as exc:
            raise TestbedError(str(exc)) from None
        self.host = host
        self.ca = BenchCA(hosts=(host,))
        self.idp = IdentityProvider(clock=clock, ca=self.ca, policy=start_policy, host=host)
        self.faults = faults if faults is not None else MailFaults()
        self._with_mail = mail
        self._mail_certificate: CertificateChoice = mail_certificate
        self._mail: MailServer | None = None
        #: The mail viewer (a page listing the mailboxes), while the mail server runs.
        self.viewer: MailViewer | None = None
        self._started: list[Any] = []

    @property
    def policy(self) -> IdpPolicy:
        """The identity provider's current profile and knobs (they may change at run time)."""
        return self.idp.policy

    @property
    def board(self) -> FaultBoard:
        """The fault board shared by the identity provider and the mail server."""
        return self.idp.faults

    @property
    def stats(self) -> BenchStats:
        """The counters shared by the identity provider and the mail server."""
        return self.idp.stats

    @property
    def maildir_root(self) -> Path:
        return self.state_dir / "maildir"

    @property
    def mail(self) -> MailServer:
        """The running mail server (after `start()`)."""
        if self._mail is None:
            raise TestbedError("the mail server is not running: start the testbed first "
                               "(and do not pass mail=False)")
        return self._mail

    @property
    def ca_file(self) -> Path:
        return self.state_dir / "ca.pem"

    @property
    def json_path(self) -> Path:
        return self.state_dir / "testbed.json"

    async def start(self) -> dict[str, Any]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.ca.write_ca(self.ca_file)
        await self.idp.start()
        self._started.append(self.idp)
        if self._with_mail:
            # The verifier needs the issuer, which exists only once the IdP listens.
            mail = MailServer(self.clock, self.ca, self.idp.verifier(), self.maildir_root, self.host,
                              faults=self.faults, board=self.idp.faults, stats=self.idp.stats,
                              users=self.idp.users,
                              certificate=self._mail_certificate)
            await mail.start()
            self._mail = mail
            self._started.append(mail)
            self.viewer = MailViewer(self.maildir_root, self.ca.server_context(), self.host)
            await self.viewer.start()
            self._started.append(self.viewer)
            self.idp.extra_knobs["mail_certificate"] = ExtraKnob(
                get=lambda: mail.certificate,
                prepare=lambda value: _certificate_setter(mail, value),
                accepts=" or ".join(CERTIFICATE_CHOICES))
        info = self.info()
        tmp = self.json_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.json_path)
        return info

    def info(self) -> dict[str, Any]:
        ports: dict[str, int] = {"idp": self.idp.port}
        mail: dict[str, Any] = {}
        if self._mail is not None:
            ports.update(smtp=self._mail.smtp_port, smtps=self._mail.smtps_port,
                         pop3=self._mail.pop3_port, pop3s=self._mail.pop3s_port)
            mail["maildir_root"] = str(self.maildir_root.resolve())
            if self.viewer is not None:
                mail["mail_viewer"] = self.viewer.url
        return {
            "issuer": self.idp.issuer,
            "ca_file": str(self.ca_file.resolve()),
            "control_url": self.idp.control_url,
            "verification_uri": self.idp.verification_uri,
            "authorize_url": self.idp.authorize_url,
            "client_id": CLIENT_ID,
            "scopes": {"smtp": [SMTP_SCOPE], "pop": [POP_SCOPE]},
            "host": self.host,
            "clock": "virtual" if self.clock.virtual else "real",
            "idp_profile": self.policy.profile,
            "policy": self.policy.flavour,
            **({"mail_certificate": self._mail.certificate} if self._mail is not None else {}),
            "ports": ports,
            **mail,
            "state_dir": str(self.state_dir.resolve()),
        }

    def provider(self) -> Provider:
        return local_provider(self.info())

    def make_device(self, nvram_dir: Path, keystore_dir: Path | None = None) -> Device:
        """A device (not yet started) on this bench's clock that trusts its CA and knows `local`.

        Its key is kept in `keystore_dir`, by default beside the NVRAM folder.
        """
        return build_device(nvram_dir, self.clock, testbed=self.info(), keystore_dir=keystore_dir)

    async def stop(self) -> None:
        while self._started:
            await self._started.pop().stop()
        self._mail = None
        self.viewer = None

    async def __aenter__(self) -> Testbed:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _certificate_setter(mail: MailServer, value: Any) -> Any:
    if value not in CERTIFICATE_CHOICES:
        raise ValueError(f"mail_certificate must be one of {', '.join(CERTIFICATE_CHOICES)}; "
                         f"got {value!r}")
    return lambda: mail.use_certificate(value)
