"""The sentences a token store says, composed once.

A reason is read on a panel, a console line and a web page, and ends up inside a job's failure.
It must read as one sentence with the provider's own code kept exactly once (`AADSTS50173`,
`invalid_grant`), never cut mid-word and never wrapped inside itself ("Token update failed …
(token is Invalid: Token update failed …)"). So the store keeps two texts:

    cause    what went wrong, in the provider's words: "AADSTS50173: The provided grant has
             expired due to it being revoked… (invalid_grant)"
    reason   the sentence a face shows for the store: the cause plus what to do

and whoever wraps a token failure (a mail job, a connection test) uses the cause, not the
reason, next to its own words.

A reason is a `sentences.Reason` (English for the console, translatable for the panel and the
web page). When a provider refuses a grant for good, the reason adds who must act: the
advice is chosen by Entra's AADSTS code (the code an administrator reads and searches for),
else by the OAuth error (Keycloak, Google, plain RFC 6749), else the manual's "delete the
token and obtain it again" (`advice_for`). The codes choose the words only: whether the token
is Invalid is decided by the OAuth error (`refresh.GRANT_GONE`), as Microsoft asks clients to.
"""

from __future__ import annotations

import re

from ..sentences import Reason

__all__ = ["MAX_DESCRIPTION", "mask", "capital", "shorten", "first_line", "provider_words", "seconds",
           "invalid_reason", "advice_for", "ADVICE_BY_CODE", "ADVICE_BY_ERROR", "ADVICE_INVALID"]

#: The most of a provider's description a reason keeps. Entra's descriptions run to 400+
#: characters with trace and correlation ids after the first line; the first sentence or two
#: say what happened.
MAX_DESCRIPTION = 240
#: What a person must do with a token that cannot be renewed (the manual's words).
ADVICE_INVALID = "Please delete the token and obtain it again"

#: Who must act, by Entra's AADSTS code (entra-docs reference-error-codes.md; docs/faults.md).
ADVICE_BY_CODE: dict[int, str] = {
    65001: "advice.consent",              # consent_required: nobody consented
    90094: "advice.admin_consent",        # only an administrator may consent
    50076: "advice.mfa",                  # MFA required by Conditional Access
    50079: "advice.mfa",                  # MFA registration required
    53003: "advice.conditional_access",   # blocked by Conditional Access
    530035: "advice.security_defaults",   # blocked by security defaults
    7000218: "advice.public_client",      # "Allow public client flows" off
    700016: "advice.app_not_found",       # no such app registration in the tenant
    50173: "advice.revoked",              # password changed, sessions revoked
    700082: "advice.inactive",            # refresh token unused for 90 days
    70043: "advice.sign_in_frequency",    # Conditional Access sign-in frequency
}
#: … and by the OAuth error, for providers that send no such code (RFC 6749 §5.2, OIDC).
ADVICE_BY_ERROR: dict[str, str] = {
    "invalid_client": "advice.client_config",
    "unauthorized_client": "advice.client_config",
    "consent_required": "advice.consent",
    "invalid_scope": "advice.scope",
    "wrong_issuer": "advice.wrong_issuer",
}

_AADSTS = re.compile(r"\bAADSTS\d+\b")


def mask(secret: str | None) -> str:
    """A secret as it may appear anywhere a person can read it: first characters and length."""
    if not secret:
        return ""
    return f"{secret[:6]}…({len(secret)} chars)"


def shorten(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """`text` on one line, at most `limit` characters, cut at a word boundary with "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "…"


def first_line(description: str) -> str:
    """Entra puts Trace ID, Correlation ID and Timestamp on lines after the message itself."""
    for line in description.replace("\r\n", "\n").split("\n"):
        if line.strip():
            return line.strip()
    return ""


def provider_words(error: str, description: str = "", codes: tuple[int, ...] = ()) -> str:
    """The provider's message with its codes, each once: "AADSTS50173: The grant … (invalid_grant)"."""
    text = shorten(first_line(description))
    if codes and not _AADSTS.search(text):
        text = f"AADSTS{codes[0]}: {text}" if text else f"AADSTS{codes[0]}"
    if not text:
        return error
    if error and error not in text:
        return f"{text} ({error})"
    return text


def capital(text: str) -> str:
    """A clause as the start of a sentence."""
    return text[:1].upper() + text[1:]


def seconds(value: float) -> str:
    """A wait in words: "45 s", "3 min", "2 h"."""
    value = max(0.0, value)
    if value < 1:
        return f"{value:.1f} s"
    if value < 120:
        return f"{round(value)} s"
    if value < 7200:
        return f"{round(value / 60)} min"
    return f"{round(value / 3600)} h"


def advice_for(error: str, codes: tuple[int, ...] = (), *, get_token: bool = False) -> Reason:
    """Who must act after a refusal for good; the manual's advice when nothing more is known
    (at Get Token: start again)."""
    for code in codes[:1]:
        if code in ADVICE_BY_CODE:
            return Reason(ADVICE_BY_CODE[code])
    if error in ADVICE_BY_ERROR:
        return Reason(ADVICE_BY_ERROR[error])
    return Reason("advice.get_again" if get_token else "advice.sign_in_again")


def invalid_reason(cause: str, advice: Reason | None = None) -> Reason:
    """The status reason of an Invalid store: why, then who must act (the manual's advice)."""
    return Reason("token.invalid", cause=_clause(cause), advice=advice or advice_for(""))


def _clause(text: str) -> str:
    """A clause inside a sentence ends without its own full stop; a `Reason` stays one."""
    return text if isinstance(text, Reason) or not text.endswith(".") else text.rstrip(".")
