"""The identity provider's fault catalogue: Entra's refusals as data, one row per fault.

`CATALOGUE` is the table docs/faults.md shows (a test keeps the two in step). Each entry says
which requests it strikes (phases, below), what it answers (`IdpAnswer`) and where the wording
comes from. The answers are Entra's, because the catalogue reproduces what Entra tenants do to
devices; under another profile the same entry answers with that provider's wording where one is
known (``other``), else with the Entra text without its ``AADSTSnnnnn:`` code.

Phases (where a fault can strike)::

    idp.device_authorization   POST …/devicecode
    idp.device_poll            every device_code poll of the token endpoint
    idp.device_redeem          a device_code poll that would have returned tokens (approved)
    idp.refresh                grant_type=refresh_token
    idp.auth_code              grant_type=authorization_code (browser sign-in with PKCE)
    idp.discovery              GET of the discovery document and the JWKS (optional only)

Why these phases (faithful to Entra): consent, MFA and Conditional Access are decided when the
token is *issued*, so they answer the redeeming poll (Entra shows its own page to the person
first; the device only ever sees the token request fail) and refreshes; a client-level problem
(app deleted, public client flows off) fails every token request; throttling, outages and
broken answers can hit anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .faultboard import FaultEntry, FaultOption
from .tokens import CLIENT_ID

__all__ = ["CATALOGUE", "IdpAnswer", "TOKEN_PHASES"]

AnswerKind = Literal["error", "garbage", "hang", "wrong_issuer"]

#: Every request a device makes to the token endpoint or the device endpoint.
TOKEN_PHASES = ("idp.device_authorization", "idp.device_poll", "idp.refresh", "idp.auth_code")
_ISSUE = ("idp.device_redeem", "idp.refresh", "idp.auth_code")
_GRANTS = ("idp.device_poll", "idp.refresh", "idp.auth_code")

#: What `garbage` sends: a 200 with an HTML page, as a captive portal or a broken proxy does.
GARBAGE_BODY = ("<!DOCTYPE html><html><head><title>Service Unavailable</title></head>"
                "<body><h1>Service Unavailable</h1></body></html>")
#: The issuer `wrong_issuer` puts in the ID token: same host, another tenant.
WRONG_TENANT = "other-tenant"


@dataclass(frozen=True)
class IdpAnswer:
    """What one IdP fault sends. ``text`` is Entra's, after ``AADSTS<aadsts>: ``.

    ``{client_id}``, ``{issued}`` (the grant's issue time) and ``{now}`` are filled in when sent.
    """

    kind: AnswerKind = "error"
    status: int = 400
    error: str = ""
    aadsts: int | None = None
    text: str = ""
    #: profile → (error, description) where that provider words it its own way.
    other: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: Extra body fields Entra sends with this error (``suberror``, ``claims``).
    extra: Mapping[str, str] = field(default_factory=dict)

    def wire(self) -> str:
        """The answer as docs/faults.md prints it."""
        if self.kind == "garbage":
            return f"HTTP 200, Content-Type text/html: {GARBAGE_BODY}"
        if self.kind == "hang":
            return "accepts the request and sends nothing until disarmed or hang_seconds pass, " \
                   "then drops the connection"
        if self.kind == "wrong_issuer":
            return (f"HTTP 200 with tokens; the id_token's iss is {{authority host}}/"
                    f"{WRONG_TENANT}, not the issuer")
        code = f"AADSTS{self.aadsts}: " if self.aadsts else ""
        extras = "".join(f"; {k}={v}" for k, v in self.extra.items())
        return f"HTTP {self.status} {self.error}: {code}{self.text}{extras}"


_CLAIMS = '{"access_token":{"capolids":{"essential":true,"values":["9f1b6d3a-0c5e-4e58-b3a1-2c2a1c1d7e01"]}}}'
_ENTRA_CODES = "entra-docs docs/identity-platform/reference-error-codes.md"


def _entry(name: str, phases: tuple[str, ...], description: str, source: str,
           answer: IdpAnswer, optional: tuple[str, ...] = (),
           options: Mapping[str, FaultOption] | None = None) -> FaultEntry:
    return FaultEntry(name=name, phases=phases, description=description, wire=answer.wire(),
                      source=source, optional_phases=optional, options=dict(options or {}),
                      answer=answer)


_HANG = {"hang_seconds": FaultOption(30.0, 0.1, 600.0,
                                     "real seconds before the bench gives up the request")}
_RETRY = {"retry_after": FaultOption(60.0, 1.0, 3600.0, "the Retry-After header, in seconds")}

CATALOGUE: tuple[FaultEntry, ...] = (
    _entry("consent_required", _ISSUE,
           "nobody consented to the app's mail permissions (user consent off, or withdrawn)",
           f"{_ENTRA_CODES} (65001); body with suberror as in MicrosoftDocs/azure-docs#39189",
           IdpAnswer(error="invalid_grant", aadsts=65001,
                     text=f"The user or administrator has not consented to use the application "
                          f"with ID '{CLIENT_ID}' named 'mfp-sim device'. Send an interactive "
                          "authorization request for this user and resource.",
                     other={"keycloak": ("invalid_scope",
                                         "Client no longer has requested consent from user")},
                     extra={"suberror": "consent_required"})),
    _entry("admin_consent_required", ("idp.device_redeem", "idp.auth_code"),
           "the tenant lets only an administrator consent to the app's permissions",
           f"{_ENTRA_CODES} (90094); wording from pnp/cli-microsoft365#534",
           IdpAnswer(error="invalid_grant", aadsts=90094,
                     text="The grant requires admin permission.")),
    _entry("mfa_required", ("idp.refresh",),
           "a Conditional Access policy now requires MFA; a refresh cannot satisfy it",
           f"{_ENTRA_CODES} (50076); wording and suberror from AzureAD/"
           "microsoft-authentication-library-for-objc#1391",
           IdpAnswer(error="invalid_grant", aadsts=50076,
                     text="Due to a configuration change made by your administrator, or "
                          "because you moved to a new location, you must use multi-factor "
                          "authentication to access 'https://mail.bench.test'.",
                     extra={"suberror": "basic_action", "claims": _CLAIMS}),
           optional=("idp.device_redeem", "idp.auth_code")),
    _entry("conditional_access_blocked", _ISSUE,
           "a Conditional Access policy blocks token issuance (device code flow, location, ...)",
           f"{_ENTRA_CODES} (53003); wording from Azure/azure-cli#32809 (device code); "
           "suberror message_only unverified",
           IdpAnswer(error="invalid_grant", aadsts=53003,
                     text="Access has been blocked by Conditional Access policies. The access "
                          "policy does not allow token issuance.",
                     extra={"suberror": "message_only", "claims": _CLAIMS})),
    _entry("security_defaults_blocked", _ISSUE,
           "the tenant's security defaults block this sign-in",
           f"{_ENTRA_CODES} (530035)",
           IdpAnswer(error="invalid_grant", aadsts=530035,
                     text="Access has been blocked by security defaults. This is due to the "
                          "request using legacy auth or being deemed unsafe by security "
                          "defaults policies.")),
    _entry("public_client_disabled", _GRANTS,
           "'Allow public client flows' is off in the app registration: a client without a "
           "secret is refused",
           f"{_ENTRA_CODES} (7000218); body from MicrosoftDocs/azure-docs#31986",
           IdpAnswer(status=401, error="invalid_client", aadsts=7000218,
                     text="The request body must contain the following parameter: "
                          "'client_assertion' or 'client_secret'.")),
    _entry("app_not_found", TOKEN_PHASES,
           "the app registration does not exist in this tenant (deleted, wrong client id)",
           f"{_ENTRA_CODES} (700016)",
           IdpAnswer(error="unauthorized_client", aadsts=700016,
                     text="Application with identifier '{client_id}' was not found in the "
                          "directory 'bench'. This can happen if the application has not been "
                          "installed by the administrator of the tenant or consented to by any "
                          "user in the tenant. You may have sent your authentication request to "
                          "the wrong tenant.",
                     other={"keycloak": ("invalid_client",
                                         "Invalid client or Invalid client credentials"),
                            "google": ("invalid_client", "The OAuth client was not found.")})),
    _entry("password_changed", ("idp.refresh",),
           "the user changed or reset their password: refresh tokens issued before are void",
           f"{_ENTRA_CODES} (50173); wording from microsoft/azuredatastudio#22853",
           IdpAnswer(error="invalid_grant", aadsts=50173,
                     text="The provided grant has expired due to it being revoked, a fresh auth "
                          "token is needed. The user might have changed or reset their password. "
                          "The grant was issued on '{issued}' and the TokensValidFrom date "
                          "(before which tokens are not valid) for this user is '{now}'.",
                     other={"keycloak": ("invalid_grant", "Session not active"),
                            "google": ("invalid_grant", "Token has been expired or revoked.")})),
    _entry("token_revoked", ("idp.refresh",),
           "an administrator revoked the user's sessions (Entra words it like password_changed)",
           f"{_ENTRA_CODES} (50173)",
           IdpAnswer(error="invalid_grant", aadsts=50173,
                     text="The provided grant has expired due to it being revoked, a fresh auth "
                          "token is needed. The user might have changed or reset their password. "
                          "The grant was issued on '{issued}' and the TokensValidFrom date "
                          "(before which tokens are not valid) for this user is '{now}'.",
                     other={"keycloak": ("invalid_grant", "Session not active"),
                            "google": ("invalid_grant", "Token has been expired or revoked.")})),
    _entry("refresh_token_expired", ("idp.refresh",),
           "the refresh token was not used for 90 days (MaxInactiveTime)",
           f"{_ENTRA_CODES} (700082)",
           IdpAnswer(error="invalid_grant", aadsts=700082,
                     text="The refresh token has expired due to inactivity. The token was "
                          "issued on {issued} and was inactive for 90.00:00:00.",
                     other={"keycloak": ("invalid_grant", "Token is not active"),
                            "google": ("invalid_grant", "Token has been expired or revoked.")})),
    _entry("sign_in_frequency", ("idp.refresh",),
           "Conditional Access sign-in frequency: the user must sign in again after N hours",
           f"{_ENTRA_CODES} (70043); body from simonrob/email-oauth2-proxy#181",
           IdpAnswer(error="invalid_grant", aadsts=70043,
                     text="The refresh token has expired or is invalid due to sign-in frequency "
                          "checks by conditional access. The token was issued on {issued} and "
                          "the maximum allowed lifetime for this request is 86400.",
                     extra={"suberror": "token_expired"})),
    _entry("throttled", TOKEN_PHASES,
           "the tenant is throttled: HTTP 429 with Retry-After",
           f"{_ENTRA_CODES} (90055); error name temporarily_unavailable from RFC 6749 §4.1.2.1",
           IdpAnswer(status=429, error="temporarily_unavailable", aadsts=90055,
                     text="There are too many incoming requests. This exception is thrown for "
                          "blocked tenants."),
           options=_RETRY),
    _entry("server_error", TOKEN_PHASES,
           "the sign-in service fails (HTTP 500)",
           f"{_ENTRA_CODES} (50000)",
           IdpAnswer(status=500, error="server_error", aadsts=50000,
                     text="There was an error issuing a token or an issue with our sign-in "
                          "service.",
                     other={"keycloak": ("server_error", "Unexpected server error")}),
           optional=("idp.discovery",)),
    _entry("garbage", TOKEN_PHASES,
           "a 200 whose body is not JSON (captive portal, broken proxy)",
           "bench invention: what proxies and captive portals send",
           IdpAnswer(kind="garbage", status=200),
           optional=("idp.discovery",)),
    _entry("hang", TOKEN_PHASES,
           "the server accepts the request and never answers",
           "bench invention: a stalled server or middlebox",
           IdpAnswer(kind="hang"),
           optional=("idp.discovery",), options=_HANG),
    _entry("wrong_issuer", _ISSUE,
           "the id_token's issuer is not the authority the device trusts (wrong tenant)",
           "OpenID Connect Core 1.0 §3.1.3.7 (the client must check iss)",
           IdpAnswer(kind="wrong_issuer", status=200)),
)
