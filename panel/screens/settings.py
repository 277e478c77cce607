"""Settings pages: a section's form, and the token area where the section has a token.

`ServicesSetupScreen` is Network Settings → Services Setup, whose [SMTP] tab holds the whole
SMTP setting. `SmtpAuthenticationScreen` is one of the other pages whose SMTP authentication
shares the one token (Scan to E-mail, Internet Fax send, e-mail alerts, status notices): it
shows the authentication fields of the same `smtp` setting and the shared token.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static, TabbedContent, TabPane

from ..base import slug
from ..widgets.settings_form import SettingsForm
from ..widgets.token_area import TokenArea
from .frame import PanelScreen

__all__ = ["SettingsScreen", "ServicesSetupScreen", "SmtpAuthenticationScreen", "SMTP_AUTH_FIELDS"]

#: The SMTP fields an SMTP-authentication page shows (the server itself is on the SMTP tab).
SMTP_AUTH_FIELDS: tuple[str, ...] = ("auth", "user", "password", "provider", "account")


class SettingsScreen(PanelScreen):
    def __init__(self, trail: tuple[str, ...], section: str, *, token: str | None = None) -> None:
        super().__init__(trail, id=f"screen-{slug(section)}")
        self.section = section
        self.token = token

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(classes="form-scroll", can_focus=False):
            yield SettingsForm(self.section)
        if self.token is not None:
            yield TokenArea(self.token)


class ServicesSetupScreen(PanelScreen):
    def __init__(self, trail: tuple[str, ...]) -> None:
        super().__init__(trail, id="screen-services-setup")

    def compose_body(self) -> ComposeResult:
        smtp = self.api.contexts.smtp().name
        with TabbedContent(id="services-tabs"):
            with TabPane("SMTP", id=f"tab-{slug(smtp)}"):
                with VerticalScroll(classes="form-scroll", can_focus=False):
                    yield SettingsForm(smtp)
                yield TokenArea(smtp)


class SmtpAuthenticationScreen(PanelScreen):
    def __init__(self, trail: tuple[str, ...], function: str) -> None:
        super().__init__(trail, id=f"screen-smtp-{slug(function)}")
        self.function = function

    def compose_body(self) -> ComposeResult:
        contexts = self.api.contexts
        smtp = contexts.get(self.function)  # the context whose token this function shares
        names = ", ".join(self._(f.title) for f in smtp.functions)
        yield Static(self._("These settings are common to: {functions}. A token obtained or "
                            "cleared here changes for all of them.").format(functions=names),
                     classes="page-note")
        with VerticalScroll(classes="form-scroll", can_focus=False):
            yield SettingsForm(smtp.name, SMTP_AUTH_FIELDS)
        yield TokenArea(self.function)
