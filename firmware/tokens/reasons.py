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
"""

from __future__ import annotations

import re

__all__ = ["MAX_DESCRIPTION", "mask", "capital", "shorten", "first_line", "provider_words", "seconds",
           "invalid_reason", "ADVICE_INVALID"]

#: The most of a provider's description a reason keeps. Entra's descriptions run to 400+
#: characters with trace and correlation ids after the first line; the first sentence or two
#: say what happened.
MAX_DESCRIPTION = 240
#: What a person must do with a token that cannot be renewed (the manual's words).
ADVICE_INVALID = "Please delete the token and obtain it again"

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


def invalid_reason(cause: str) -> str:
    """The status reason of an Invalid store: why, then the manual's advice."""
    return f"Token update failed: {cause.rstrip('.')}. {ADVICE_INVALID}"
