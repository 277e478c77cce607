"""How the bench IdP behaves: which real provider it imitates, and every lifetime it uses.

A policy is a frozen value object so that a test states the provider it wants in one line
(``IdpPolicy.microsoft()``, ``IdpPolicy.google()``) and tweaks a lifetime with
``dataclasses.replace`` instead of reaching into the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Flavour", "IdpPolicy"]

Flavour = Literal["microsoft", "google"]


@dataclass(frozen=True)
class IdpPolicy:
    """Lifetimes in seconds of device time; error names as the imitated provider spells them."""

    flavour: Flavour = "microsoft"
    #: Device code / user code validity (Entra: 15 minutes).
    device_code_lifetime: float = 900.0
    #: Minimum poll interval announced to the device.
    poll_interval: int = 5
    #: Answer ``slow_down`` on its own when a device polls one code faster than
    #: ``poll_interval`` of clock time. Off by default: a device on a virtual clock may poll
    #: faster than the IdP's view of time, and tests ask for slow_down explicitly instead.
    enforce_interval: bool = False
    #: Access token lifetime (Entra: 60-90 minutes; 3600 here).
    access_token_lifetime: float = 3600.0
    #: ID token lifetime.
    id_token_lifetime: float = 3600.0
    #: Refresh token lifetime (Entra: 90 days, sliding: every use gives a fresh 90 days).
    refresh_token_lifetime: float = 90 * 24 * 3600.0
    #: Error for a device flow the user declined: Entra says ``authorization_declined``,
    #: Google (and RFC 8628) ``access_denied``.
    declined_error: str = "authorization_declined"
    #: Error for a device code the server never issued: Entra says ``bad_verification_code``;
    #: Google answers ``invalid_grant``.
    unknown_device_code_error: str = "bad_verification_code"
    #: Google refuses its mail scope on the device flow; the bench refuses any scope under
    #: this prefix when set.
    refused_scope_prefix: str | None = None
    #: User codes: 8 letters from an alphabet without look-alikes, shown as ``XXXX-XXXX``.
    user_code_alphabet: str = "BCDFGHJKLMNPQRSTVWXZ"

    def __post_init__(self) -> None:
        for name in ("device_code_lifetime", "access_token_lifetime", "id_token_lifetime",
                     "refresh_token_lifetime"):
            if getattr(self, name) <= 0:
                raise ValueError(f"IdpPolicy.{name} must be > 0 seconds")
        if self.poll_interval < 1:
            raise ValueError("IdpPolicy.poll_interval must be >= 1 second")
        if len(set(self.user_code_alphabet)) < 10:
            raise ValueError("IdpPolicy.user_code_alphabet needs at least 10 distinct letters")

    @classmethod
    def microsoft(cls) -> IdpPolicy:
        """Microsoft Entra ID (login.microsoftonline.com) as seen by a device-code client."""
        return cls()

    @classmethod
    def google(cls) -> IdpPolicy:
        """Google's device flow: RFC 8628 error names, and no mail scope for devices."""
        return cls(
            flavour="google",
            device_code_lifetime=1800.0,
            declined_error="access_denied",
            unknown_device_code_error="invalid_grant",
            refused_scope_prefix="https://mail.bench.test/",
        )
