"""Errors of the device's web server. Each says what to do; the page shows it as it is.

    FirmwareError (firmware.errors)
     └── WebError                the web server cannot do what was asked
          ├── CertificateError   a certificate or key given to the device is unusable (why)
          └── LoginRefused       a login attempt refused before the password was looked at
                                 (too soon after a wrong one, or the login is locked);
                                 `.retry_after` is in seconds of the device clock
"""

from __future__ import annotations

from ..errors import FirmwareError

__all__ = ["WebError", "CertificateError", "LoginRefused"]


class WebError(FirmwareError):
    pass


class CertificateError(WebError):
    pass


class LoginRefused(WebError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
