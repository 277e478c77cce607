"""Errors raised by the firmware. Every one carries a message a person can act on.

    FirmwareError
     ├── SettingsError         a value was refused; `.key` names the field, the message says what is allowed
     ├── ProviderError         unknown provider, or a providers file that does not parse
     ├── TokenError
     │    ├── TokenStateError  the action is impossible in the store's current state
     │    ├── DeviceFlowError  Get Token failed; `.error` is the OAuth `error` code (or the device's
     │    │                    own: provider_unreachable, provider_timeout, not_a_token_response)
     │    ├── SignInError      a sign-in through the web page (authorization code) was refused;
     │    │                    `.error` the OAuth `error` or the device's own (unknown_state, …)
     │    ├── TokenUnavailable no usable token (not retrieved, invalid, or expired and not renewed
     │    │                    yet); `.cause` is why, in the provider's words, said once
     │    └── RecordError      a stored token record that cannot be read
     ├── CommandError          a console/API command that is malformed or unknown
     │    └── ConfirmationNeeded  the command would do something the administrator must confirm
     └── MailError             (see firmware.mail.errors for the SMTP/POP tree)
"""

from __future__ import annotations


class FirmwareError(Exception):
    """Base of every firmware error."""


class SettingsError(FirmwareError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class ProviderError(FirmwareError):
    pass


class TokenError(FirmwareError):
    pass


class TokenStateError(TokenError):
    pass


class DeviceFlowError(TokenError):
    def __init__(self, error: str, description: str = "") -> None:
        text = f"{error}: {description}" if description else error
        super().__init__(text)
        self.error = error
        self.description = description


class SignInError(TokenError):
    def __init__(self, error: str, message: str, *, store: str = "") -> None:
        super().__init__(message)
        self.error = error
        self.store = store


class TokenUnavailable(TokenError):
    def __init__(self, message: str, *, cause: str = "") -> None:
        super().__init__(message)
        self.cause = cause or message


class RecordError(TokenError):
    pass


class CommandError(FirmwareError):
    pass


class ConfirmationNeeded(CommandError):
    """The change is allowed, but only when the administrator confirms it (the message says
    what would happen); each face asks in its own way (the console: `--confirm`)."""


class MailError(FirmwareError):
    pass
