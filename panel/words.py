"""The device's words on the panel: field names, choices, token states.

They are English message ids (marked with `N_`), translated where they are shown, so the
firmware keeps its own vocabulary (`smtp.port`, `oauth2`, `not_retrieved`) and the panel shows
the manual's (`Numero Porta`, `OAuth 2.0`, `Non recuperato`). What each mail context and SMTP
function is called, and where it sits in the menus, is in the context table
(`firmware.contexts`), in the same message ids.
"""

from __future__ import annotations

from mfp_sim.firmware.contexts import Contexts
from mfp_sim.firmware.i18n import N_
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.firmware.vocabulary import Service

__all__ = [
    "TOKEN_LABELS", "field_label", "choices_of", "BOOL_FIELDS", "context_title",
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
