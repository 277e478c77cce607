"""The device's words as its faces show them: field names, choices, token states.

They are English message ids (marked with `N_`), translated where they are shown, so the
firmware keeps its own vocabulary (`smtp.port`, `oauth2`, `not_retrieved`) and the panel and
the web page show the manual's (`Numero Porta`, `OAuth 2.0`, `Non recuperato`), the same on both. What each mail context and SMTP
function is called, and where it sits in the menus, is in the context table
(`firmware.contexts`), in the same message ids.
"""

from __future__ import annotations

from .contexts import Contexts
from .i18n import N_
from .tokens.machine import TokenState
from .vocabulary import JobKind, JobState, Service

__all__ = [
    "TOKEN_LABELS", "field_label", "choices_of", "BOOL_FIELDS", "context_title", "HINTS",
    "STEP_LABELS", "JOB_STATES", "JOB_KINDS",
]

TOKEN_LABELS: dict[str, str] = {
    TokenState.NOT_RETRIEVED.value: N_("Not retrieved"),
    TokenState.WAITING.value: N_("Waiting for authorization"),
    TokenState.RETRIEVED.value: N_("Retrieved"),
    TokenState.INVALID.value: N_("Invalid"),
}

_LABELS: dict[str, str] = {
    "server": N_("Primary Server"),
    "port": N_("Port Number"),
    "timeout": N_("Timeout"),
    "sender_name": N_("Sender Name"),
    "sender_address": N_("Sender Address"),
    "security": N_("Enable SSL/TLS"),
    "auth": N_("Authentication Method"),
    "user": N_("User Name"),
    "password": N_("Password"),
    "provider": N_("Provider"),
    "account": N_("Account Name"),
    "enabled": N_("Receive Automatically"),
    "check_interval": N_("Check Interval"),
    "leave_copy": N_("Leave a Copy on the Server"),
    "name": N_("Device Name"),
    "language": N_("Display Language"),
    "admin_password": N_("Administrator Password"),
    "current_password": N_("Current Password"),  # asked beside a new administrator password
}

#: Ranges shown beside typed numbers; language-neutral on purpose.
HINTS: dict[str, str] = {"port": "1–65535", "timeout": "1–300 s", "check_interval": "1–240 min"}

#: Where a connection test stopped (`ConnectionReport.step`), in a person's words.
STEP_LABELS: dict[str, str] = {
    "connect": N_("Connecting to the server"),
    "tls": N_("Secure connection (SSL/TLS)"),
    "auth": N_("Signing in"),
    "token": N_("OAuth 2.0 token"),
    "send": N_("Sending"),
    "receive": N_("Receiving"),
    "print": N_("Printing"),
    "done": N_("Done"),
}

JOB_STATES: dict[JobState, str] = {
    JobState.QUEUED: N_("Queued"), JobState.SENDING: N_("Sending"),
    JobState.SENT: N_("Sent"), JobState.FAILED: N_("Failed"),
}
JOB_KINDS: dict[JobKind, str] = {
    JobKind.SCAN: N_("Scan to E-mail"), JobKind.IFAX: N_("Internet Fax"),
    JobKind.ALERT: N_("E-mail Alert"),
}

BOOL_FIELDS: frozenset[str] = frozenset({"enabled", "leave_copy"})

_SECURITY = [("off", N_("Off")), ("starttls", N_("STARTTLS")), ("ssl", N_("SSL/TLS"))]
_SMTP_AUTH = [("none", N_("None")), ("plain", N_("PLAIN")), ("login", N_("LOGIN")),
              ("oauth2", N_("OAuth 2.0"))]
_POP_AUTH = [("plain", N_("PLAIN")), ("oauth2", N_("OAuth 2.0"))]
_LANGUAGE = [("en", N_("English")), ("it", N_("Italian"))]
_BOOL = [("on", N_("On")), ("off", N_("Off"))]


def context_title(contexts: Contexts, name: str) -> str:
    """The message id of what a context (or an SMTP function) is called; a name it does not know
    is shown as it is."""
    return contexts.get(name).title if name in contexts else name


def field_label(contexts: Contexts, section: str, name: str) -> str:
    """The message id of a field's label; a context may call a field its own way (POP3 Server)."""
    if section in contexts and name in contexts.get(section).labels:
        return contexts.get(section).labels[name]
    return _LABELS.get(name, name)


def choices_of(contexts: Contexts, section: str, name: str) -> list[tuple[str, str]] | None:
    """(value, message id) pairs for a field chosen from a list, or None for a typed field.

    The provider list is not here: it comes from the device (`DeviceApi.providers()`).
    """
    if name == "security":
        return list(_SECURITY)
    if name == "auth":
        pop = section in contexts and contexts.get(section).service is Service.POP
        return list(_POP_AUTH if pop else _SMTP_AUTH)
    if name == "language":
        return list(_LANGUAGE)
    if name in BOOL_FIELDS:
        return list(_BOOL)
    return None
