"""The device's words on the panel: field names, choices, token states, store names.

They are English message ids (marked with `N_`), translated where they are shown, so the
firmware keeps its own vocabulary (`smtp.port`, `oauth2`, `not_retrieved`) and the panel shows
the manual's (`Numero Porta`, `OAuth 2.0`, `Non recuperato`).
"""

from __future__ import annotations

from mfp_sim.firmware.tokens.machine import TokenState

from .i18n import N_

__all__ = [
    "TOKEN_LABELS", "STORE_TITLES", "FUNCTION_TITLES", "field_label", "choices_of", "BOOL_FIELDS",
]

TOKEN_LABELS: dict[str, str] = {
    TokenState.NOT_RETRIEVED.value: N_("Not retrieved"),
    TokenState.WAITING.value: N_("Waiting for authorization"),
    TokenState.RETRIEVED.value: N_("Retrieved"),
    TokenState.INVALID.value: N_("Invalid"),
}

#: What each token store is called where a person reads about it (alerts, dialogs).
STORE_TITLES: dict[str, str] = {
    "smtp": N_("SMTP"),
    "pop.ifax": N_("Internet Fax (POP3)"),
    "pop.emailprint": N_("E-mail Print (POP3)"),
}

#: The screens whose SMTP authentication uses the one `smtp` token (see firmware.api).
FUNCTION_TITLES: dict[str, str] = {
    "scan_to_email": N_("Scan to E-mail"),
    "ifax_send": N_("Internet Fax send"),
    "email_alert": N_("E-mail Alert"),
    "status_notice": N_("Status Notice"),
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

_POP_LABELS: dict[str, str] = {"server": N_("POP3 Server")}

BOOL_FIELDS: frozenset[str] = frozenset({"enabled", "leave_copy"})

_SECURITY = [("off", N_("Off")), ("starttls", N_("STARTTLS")), ("ssl", N_("SSL/TLS"))]
_SMTP_AUTH = [("none", N_("None")), ("plain", N_("PLAIN")), ("login", N_("LOGIN")),
              ("oauth2", N_("OAuth 2.0"))]
_POP_AUTH = [("plain", N_("PLAIN")), ("oauth2", N_("OAuth 2.0"))]
_LANGUAGE = [("en", N_("English")), ("it", N_("Italian"))]
_BOOL = [("on", N_("On")), ("off", N_("Off"))]


def field_label(section: str, name: str) -> str:
    """The message id of a field's label; POP settings call their server `POP3 Server`."""
    if section.startswith("pop.") and name in _POP_LABELS:
        return _POP_LABELS[name]
    return _LABELS.get(name, name)


def choices_of(section: str, name: str) -> list[tuple[str, str]] | None:
    """(value, message id) pairs for a field chosen from a list, or None for a typed field.

    The provider list is not here: it comes from the device (`DeviceApi.providers()`).
    """
    if name == "security":
        return list(_SECURITY)
    if name == "auth":
        return list(_POP_AUTH if section.startswith("pop.") else _SMTP_AUTH)
    if name == "language":
        return list(_LANGUAGE)
    if name in BOOL_FIELDS:
        return list(_BOOL)
    return None
