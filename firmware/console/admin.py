"""Console commands about the administrator: log in, change the administrator password.

A console bound beyond loopback answers nothing but `login` until the administrator password
was given on that connection; on a local console `login` is accepted too (it checks the
password), so a script may always begin with it. Both commands go through the API's password
guard: a wrong password is answered after a delay, and a run of them locks every check for a
while (`firmware.access`).
"""

from __future__ import annotations

from ..errors import CommandError
from .command import Command, Reply, Session

__all__ = ["ADMIN_COMMANDS"]

LOGIN_USAGE = "login <administrator password>"
PASSWORD_USAGE = "password <current password> <new password>"


async def _login(session: Session, args: list[str], rest: str) -> Reply:
    if len(args) != 1:
        raise CommandError(f"usage: {LOGIN_USAGE} (quote a password with spaces)")
    await session.api.verify_admin_password(args[0])
    session.logged_in = True
    return ["login=ok", "OK"]


async def _password(session: Session, args: list[str], rest: str) -> Reply:
    if len(args) != 2:
        raise CommandError(f"usage: {PASSWORD_USAGE} (quote a password with spaces)")
    await session.api.change_admin_password(args[0], args[1])
    return ["device.admin_password=********", "OK"]


ADMIN_COMMANDS: tuple[Command, ...] = (
    Command("login", LOGIN_USAGE,
            "give the administrator password (needed first on a console reachable from the "
            "network)", _login),
    Command("password", PASSWORD_USAGE, "change the administrator password", _password),
)
