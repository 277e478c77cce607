"""What each imitated provider says on the wire when it refuses: one table, `WORDING`.

A *situation* (``pending``, ``revoked``, ...) maps, per profile, to the OAuth ``error`` name and
the ``error_description`` text. Entra's texts start ``AADSTSnnnnn:``; `entra_error_body` then adds
what Entra adds to every error (docs: entra-docs ``reference-error-codes.md``)::

    error_description  "AADSTSnnnnn: text\\r\\nTrace ID: …\\r\\nCorrelation ID: …\\r\\nTimestamp: …"
    error_codes        [nnnnn]
    timestamp          "2027-01-15 08:00:00Z"
    trace_id, correlation_id    (the client's client-request-id is echoed as correlation_id)
    error_uri          "https://login.microsoftonline.com/error?code=nnnnn"

Sources per profile (quoted, see docs/testbed.md):
- entra: entra-docs ``reference-error-codes.md``, ``v2-oauth2-device-code.md``; issue threads
  quoted in docs/faults.md.
- keycloak: keycloak/keycloak ``DeviceGrantType.java`` (device flow), ``TokenManager.java``
  (refresh: "Session not active", "Maximum allowed refresh token reuse exceeded", "Invalid
  refresh token", "User disabled"), ``TokenVerifier.java`` ("Token is not active").
- google: answers of oauth2.googleapis.com seen in client libraries and issue threads.
- generic: RFC 6749 §5.2 / RFC 8628 §3.5 definitions, shortened.
"""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Any

__all__ = ["WORDING", "Wording", "entra_error_body", "entra_timestamp", "wording"]

#: (error, error_description) for one profile and situation.
Wording = tuple[str, str]

_PENDING_RFC = ("authorization_pending",
                "The authorization request is still pending as the end user hasn't yet "
                "completed the user-interaction steps.")

#: situation → profile → (error, description). ``{client_id}``, ``{scope}``, ``{days}`` are
#: filled in by the caller.
WORDING: dict[str, dict[str, Wording]] = {
    "pending": {
        "entra": ("authorization_pending", "AADSTS70016: OAuth 2.0 device flow error. "
                  "Authorization is pending. Continue polling."),
        "keycloak": ("authorization_pending", "The authorization request is still pending"),
        "google": ("authorization_pending", "Precondition Required"),
        "generic": _PENDING_RFC,
    },
    "slow_down": {
        "entra": ("slow_down", "AADSTS70000: Polling too fast; add 5 seconds to the interval."),
        "keycloak": ("slow_down", "Slow down"),
        "google": ("slow_down", "Forbidden"),
        "generic": ("slow_down", "The client is polling too quickly; increase the interval "
                    "by 5 seconds."),
    },
    "declined": {
        "entra": ("authorization_declined", "AADSTS70000: The user declined the sign-in on "
                  "the verification page."),
        "keycloak": ("access_denied", "The end user denied the authorization request"),
        "google": ("access_denied", "Forbidden"),
        "generic": ("access_denied", "The end user denied the authorization request."),
    },
    "code_expired": {
        "entra": ("expired_token", "AADSTS70020: The provided value for the input parameter "
                  "'device_code' is not valid. This device code has expired."),
        "keycloak": ("expired_token", "Device code is expired"),
        "google": ("expired_token", "Expired"),
        "generic": ("expired_token", "The device_code has expired."),
    },
    "unknown_device_code": {
        "entra": ("bad_verification_code", "AADSTS70000: The provided value for the input "
                  "parameter 'device_code' is not valid: this server never issued it."),
        "keycloak": ("invalid_grant", "Device code not valid"),
        "google": ("invalid_grant", "Invalid device code."),
        "generic": ("invalid_grant", "The device_code is invalid."),
    },
    "code_redeemed": {
        "entra": ("invalid_grant", "AADSTS54005: The device code was already redeemed; start "
                  "a new device flow."),
        "keycloak": ("invalid_grant", "Device code not valid"),
        "google": ("invalid_grant", "The device code was already redeemed."),
        "generic": ("invalid_grant", "The device_code was already used."),
    },
    "user_disabled": {
        "entra": ("invalid_grant", "AADSTS50057: The user account is disabled."),
        "keycloak": ("invalid_grant", "User disabled"),
        "google": ("invalid_grant", "Account has been disabled."),
        "generic": ("invalid_grant", "The resource owner's account is disabled."),
    },
    "unknown_refresh_token": {
        "entra": ("invalid_grant", "AADSTS9002313: Invalid request. The refresh token is "
                  "malformed or was not issued by this server."),
        "keycloak": ("invalid_grant", "Invalid refresh token"),
        "google": ("invalid_grant", "Bad Request"),
        "generic": ("invalid_grant", "The refresh token is invalid."),
    },
    "revoked": {
        "entra": ("invalid_grant", "AADSTS50173: The provided grant has expired due to it "
                  "being revoked, a fresh auth token is needed. The user might have changed or "
                  "reset their password."),
        "keycloak": ("invalid_grant", "Session not active"),
        "google": ("invalid_grant", "Token has been expired or revoked."),
        "generic": ("invalid_grant", "The refresh token has been revoked."),
    },
    "reused": {
        "entra": ("invalid_grant", "AADSTS70000: The provided grant has been revoked: a "
                  "refresh token was used twice, so every token from that sign-in is revoked. "
                  "Sign in again."),
        "keycloak": ("invalid_grant", "Maximum allowed refresh token reuse exceeded"),
        "google": ("invalid_grant", "Token has been expired or revoked."),
        "generic": ("invalid_grant", "The refresh token was already used; the grant is "
                    "revoked."),
    },
    "refresh_expired": {
        "entra": ("invalid_grant", "AADSTS700082: The refresh token has expired due to "
                  "inactivity. The token was issued on {issued} and was inactive for {days}."),
        "keycloak": ("invalid_grant", "Token is not active"),
        "google": ("invalid_grant", "Token has been expired or revoked."),
        "generic": ("invalid_grant", "The refresh token has expired."),
    },
    "missing_client_id": {
        "entra": ("invalid_request", "AADSTS900144: The request body must contain the "
                  "following parameter: 'client_id'."),
        "keycloak": ("invalid_client", "Missing parameter: client_id"),
        "google": ("invalid_request", "Missing required parameter: client_id"),
        "generic": ("invalid_request", "Missing 'client_id' parameter."),
    },
    "unknown_client": {
        "entra": ("unauthorized_client", "AADSTS700016: Application with identifier "
                  "'{client_id}' was not found in the directory 'bench'. This can happen if the "
                  "application has not been installed by the administrator of the tenant or "
                  "consented to by any user in the tenant. You may have sent your "
                  "authentication request to the wrong tenant."),
        "keycloak": ("invalid_client", "Invalid client or Invalid client credentials"),
        "google": ("invalid_client", "The OAuth client was not found."),
        "generic": ("invalid_client", "Client authentication failed."),
    },
    "unknown_scope": {
        "entra": ("invalid_scope", "AADSTS70011: The provided value for the input parameter "
                  "'scope' is not valid. The scope '{scope}' does not exist."),
        "keycloak": ("invalid_scope", "Invalid scopes: {scope}"),
        "google": ("invalid_scope", "Some requested scopes were invalid: {scope}"),
        "generic": ("invalid_scope", "The requested scope is invalid, unknown, or malformed: "
                    "{scope}"),
    },
    "refused_scope": {
        "entra": ("invalid_scope", "AADSTS70011: The provided value for the input parameter "
                  "'scope' is not valid. The scope '{scope}' is not allowed on this flow."),
        "keycloak": ("invalid_scope", "Invalid scopes: {scope}"),
        "google": ("invalid_scope", "Invalid device flow scope: {scope}"),
        "generic": ("invalid_scope", "The scope {scope} is not allowed on this flow."),
    },
    "bad_auth_code": {
        "entra": ("invalid_grant", "AADSTS70000: The provided authorization code is invalid "
                  "or has expired."),
        "keycloak": ("invalid_grant", "Code not valid"),
        "google": ("invalid_grant", "Malformed auth code."),
        "generic": ("invalid_grant", "The authorization code is invalid or expired."),
    },
    "pkce_failed": {
        "entra": ("invalid_grant", "AADSTS501481: The Code_Verifier does not match the "
                  "code_challenge supplied in the authorization request."),
        "keycloak": ("invalid_grant", "PKCE verification failed: Code mismatch"),
        "google": ("invalid_grant", "Invalid code verifier."),
        "generic": ("invalid_grant", "Code challenge failed."),
    },
    "server_error": {
        "entra": ("server_error", "AADSTS50000: There was an error issuing a token or an "
                  "issue with our sign-in service."),
        "keycloak": ("server_error", "Unexpected server error"),
        "google": ("server_error", "Internal error."),
        "generic": ("server_error", "The authorization server encountered an unexpected "
                    "condition."),
    },
}

_AADSTS = re.compile(r"^AADSTS(\d+):")


def wording(situation: str, profile: str, **fill: Any) -> Wording:
    """The (error, description) `profile` sends in `situation`, with ``{fields}`` filled."""
    error, text = WORDING[situation][profile]
    return error, text.format(**fill) if fill else text


def entra_timestamp(now: float) -> str:
    """Entra's ``timestamp`` format, from the bench clock: ``2027-01-15 08:00:00Z``."""
    moment = datetime.datetime.fromtimestamp(now, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def entra_error_body(body: dict[str, Any], now: float,
                     correlation_id: str | None = None) -> dict[str, Any]:
    """`body` (``error``, ``error_description`` starting ``AADSTSn:``) as Entra sends it."""
    description = str(body.get("error_description", ""))
    match = _AADSTS.match(description)
    if "error" not in body or match is None:
        return body
    code = int(match.group(1))
    stamp = entra_timestamp(now)
    trace = str(uuid.uuid4())
    correlation = correlation_id or str(uuid.uuid4())
    out = dict(body)
    out["error_description"] = (f"{description}\r\nTrace ID: {trace}\r\nCorrelation ID: "
                                f"{correlation}\r\nTimestamp: {stamp}")
    out["error_codes"] = [code]
    out["timestamp"] = stamp
    out["trace_id"] = trace
    out["correlation_id"] = correlation
    out["error_uri"] = f"https://login.microsoftonline.com/error?code={code}"
    return out
