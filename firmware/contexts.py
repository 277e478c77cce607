"""The device's mail contexts, as one table: every SMTP or POP setting that holds a token.

A mail context is one settings section, one token store of the same name and, for POP, one
receiver. The real device has three: the SMTP setting, whose one token every sending function
shares (Scan to E-mail, Internet Fax send, e-mail alerts, status notices: `SmtpFunction`), and
two POP settings (Internet Fax receive, E-mail Print), each with a token of its own.

Everything else derives from `CONTEXTS`: the settings sections, the token stores, the POP
receivers, the console's store names and usage lines, the panel's menus and titles and the web
page. Adding a POP setting is one row here (docs/architecture.md: "How to add a mail context").

Titles and menu paths are English message ids (`N_`), translated where they are shown; the
menu path is the one of the real device's administrator menu, the page's own title last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import CommandError
from .i18n import N_
from .settings import (
    DEVICE,
    POP_FIELDS,
    SMTP_FIELDS,
    PopSettings,
    Section,
    SmtpSettings,
)
from .vocabulary import ReceiveKind, Service

__all__ = [
    "CONTEXTS", "MailContext", "SmtpFunction", "Contexts", "SMTP", "IFAX", "EMAIL_PRINT",
]


@dataclass(frozen=True)
class SmtpFunction:
    """A screen whose SMTP authentication uses the shared SMTP token."""

    name: str  # scan_to_email: accepted wherever a token store name is
    title: str  # message id
    menu: tuple[str, ...]  # message ids, from "System Settings" down to the page


@dataclass(frozen=True)
class MailContext:
    """One row: a settings section with its own token store (and receiver, for POP)."""

    section: Section[Any]
    service: Service
    title: str  # message id: how a person calls this setting (alerts, dialogs, the web page)
    menu: tuple[str, ...]  # message ids, from "System Settings" down to the page
    receive: ReceiveKind | None = None  # what a POP context receives; None for SMTP
    functions: tuple[SmtpFunction, ...] = ()  # the sending functions sharing its token
    labels: Mapping[str, str] = field(default_factory=dict)  # field label overrides (message ids)

    @property
    def name(self) -> str:
        """The section's name, which is also the token store's and the receiver's."""
        return self.section.name


SMTP = MailContext(
    Section("smtp", SmtpSettings, SMTP_FIELDS), Service.SMTP, N_("SMTP"),
    (N_("System Settings"), N_("Network Settings"), N_("Services Setup")),
    functions=(
        SmtpFunction("scan_to_email", N_("Scan to E-mail"),
                     (N_("System Settings"), N_("Image Send Settings"), N_("Scan Settings"),
                      N_("SMTP Authentication"))),
        SmtpFunction("ifax_send", N_("Internet Fax send"),
                     (N_("System Settings"), N_("Image Send Settings"),
                      N_("Internet Fax Settings"), N_("Send Settings"))),
        SmtpFunction("email_alert", N_("E-mail Alert"),
                     (N_("System Settings"), N_("E-mail Alert and Status Settings"),
                      N_("E-mail Alert"))),
        SmtpFunction("status_notice", N_("Status Notice"),
                     (N_("System Settings"), N_("E-mail Alert and Status Settings"),
                      N_("Status Notice"))),
    ),
)
_POP_LABELS = {"server": N_("POP3 Server")}
IFAX = MailContext(
    Section("pop.ifax", PopSettings, POP_FIELDS), Service.POP, N_("Internet Fax (POP3)"),
    (N_("System Settings"), N_("Image Send Settings"), N_("Internet Fax Settings"),
     N_("Server Settings")),
    receive=ReceiveKind.FAX, labels=_POP_LABELS,
)
EMAIL_PRINT = MailContext(
    Section("pop.emailprint", PopSettings, POP_FIELDS), Service.POP, N_("E-mail Print (POP3)"),
    (N_("System Settings"), N_("Printer Settings"), N_("E-mail Print Settings")),
    receive=ReceiveKind.PRINT, labels=_POP_LABELS,
)

#: The real device's mail contexts, in the order faces list them.
CONTEXTS: tuple[MailContext, ...] = (SMTP, IFAX, EMAIL_PRINT)


class Contexts:
    """The contexts of one device, with the lookups every face needs.

    A device is given its table (tests add a row); nothing else in the firmware names a
    context: it asks this object.
    """

    def __init__(self, rows: Iterable[MailContext] = CONTEXTS) -> None:
        self.rows: tuple[MailContext, ...] = tuple(rows)
        names = [c.name for c in self.rows]
        if len(set(names)) != len(names) or DEVICE.name in names:
            raise ValueError(f"mail context names must be distinct and not {DEVICE.name!r}: {names}")
        self._by_name = {c.name: c for c in self.rows}
        self._functions = {f.name: c for c in self.rows for f in c.functions}
        self.sections: dict[str, Section[Any]] = {
            DEVICE.name: DEVICE, **{c.name: c.section for c in self.rows}}

    def __iter__(self) -> Any:
        return iter(self.rows)

    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def pop(self) -> tuple[MailContext, ...]:
        """The POP contexts (each has a receiver)."""
        return tuple(c for c in self.rows if c.receive is not None)

    def smtp(self) -> MailContext:
        """The SMTP context: the one whose token the sending functions share."""
        for c in self.rows:
            if c.service is Service.SMTP:
                return c
        raise CommandError("this device has no SMTP setting")

    def functions(self) -> tuple[SmtpFunction, ...]:
        return tuple(f for c in self.rows for f in c.functions)

    def get(self, name: str) -> MailContext:
        """A context by its name, or by the SMTP function whose screen the user is on."""
        context = self._by_name.get(name) or self._functions.get(name)
        if context is None:
            raise CommandError(f"unknown token store {name!r}: one of {self.usage()}")
        return context

    def setting(self, name: str) -> MailContext:
        """Like `get`, refusing with the settings' names (the connection test is per setting)."""
        if name not in self._by_name and name not in self._functions:
            raise CommandError(f"unknown setting {name!r}: one of {'|'.join(self._by_name)}")
        return self.get(name)

    def receiver(self, name: str) -> MailContext:
        """A POP context by name (for `mail check`, the connection test of a receiver)."""
        context = self._by_name.get(name)
        if context is None or context.receive is None:
            allowed = "|".join(c.name for c in self.pop())
            raise CommandError(f"unknown POP setting {name!r}: one of {allowed}")
        return context

    def usage(self) -> str:
        """Every accepted store name, as a console usage line lists them."""
        return ", ".join([*self._by_name, *self._functions])

    def __contains__(self, name: object) -> bool:
        return name in self._by_name
