"""The console's interpreter: one line in, `key=value` lines and a final `OK` or `ERR` out.

Line based, made for scripts first and people second. Every command answers zero or more
`key=value` lines and then exactly one final line, `OK` or `ERR <reason>`, so a script reads
until a line starts with OK or ERR. Values are single-line; secrets are masked. Unknown
commands, missing arguments and refused values all end in `ERR` with what is allowed; the
shell never raises.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Iterable

from ..api import DeviceApi
from ..errors import FirmwareError
from .command import Command, Reply, Session, one_line

__all__ = ["Shell", "MAX_LINE"]

log = logging.getLogger(__name__)

MAX_LINE = 4096


class Shell:
    """The console of one device, speaking the commands it was given (see `console.COMMANDS`)."""

    def __init__(self, api: DeviceApi, commands: Iterable[Command]) -> None:
        self.api = api
        self._commands = {c.name: c for c in commands}
        self._session = Session(api, self._commands)

    def commands(self) -> dict[str, Command]:
        return dict(self._commands)

    async def execute(self, line: str) -> Reply:
        """Run one console line; always returns reply lines ending in OK or ERR."""
        line = line.strip()
        if not line or line.startswith("#"):
            return []
        if len(line) > MAX_LINE:
            return [f"ERR line too long: at most {MAX_LINE} characters"]
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return [f"ERR cannot read the line ({exc}): close every quote"]
        name, args = words[0].lower(), words[1:]
        command = self._commands.get(name)
        if command is None:
            return [f"ERR unknown command {name!r}: type help for the list"]
        rest = line[len(words[0]):].strip()
        try:
            reply = await command.handler(self._session, args, rest)
        except FirmwareError as exc:
            return [f"ERR {one_line(exc)}"]
        except Exception as exc:  # a bug must not kill the console: say so, keep going
            log.exception("shell command %r failed", name)
            return [f"ERR internal error in {name}: {type(exc).__name__}: {one_line(exc)}"]
        return [one_line(r) if not r.startswith(("OK", "ERR")) else r for r in reply]
