"""The console's interpreter: one line in, `key=value` lines and a final `OK` or `ERR` out.

Line based, made for scripts first and people second. Every command answers zero or more
`key=value` lines and then exactly one final line, `OK` or `ERR <reason>`, so a script reads
until a line starts with OK or ERR. Values are single-line; secrets are masked. Unknown
commands, missing arguments and refused values all end in `ERR` with what is allowed; the
shell never raises.

Each console connection is a `Connection` with a session of its own (`Shell.open`): its
login, and the events it streams. A connection reachable from beyond the device's machine
(`login_required`) runs nothing but `login <admin password>` until the password was given.

What a line may hold is checked before anything else: control characters (NUL, ESC, DEL…),
invisible format characters and line or paragraph separators are refused, and nothing the
console writes back ever holds one (each is shown as `\\xNN`/`\\uNNNN`), so neither a
terminal nor a script reading the reply can be fooled by bytes it did not see.
"""

from __future__ import annotations

import logging
import shlex
import unicodedata
from collections.abc import Iterable

from ..access import is_loopback
from ..api import DeviceApi
from ..errors import FirmwareError
from .command import Command, Reply, Session, one_line

__all__ = ["Shell", "Connection", "MAX_LINE", "LOGIN_REQUIRED"]

log = logging.getLogger(__name__)

MAX_LINE = 4096
#: The answer to any command but `login` on a connection that has not logged in.
LOGIN_REQUIRED = ("login required: this console is reachable from the network; "
                  "send login <administrator password> first")
#: Unicode categories a console line may not hold: controls, format characters, line and
#: paragraph separators.
_REFUSED = {"Cc", "Cf", "Zl", "Zp", "Cs"}
_NAMES = {0: "NUL", 7: "BEL", 8: "BS", 0x1B: "ESC", 0x7F: "DEL", 0x85: "NEL", 0x2028: "LINE SEPARATOR",
          0x2029: "PARAGRAPH SEPARATOR"}


def _refused(c: str) -> bool:
    return c != "\t" and unicodedata.category(c) in _REFUSED


def describe_char(c: str) -> str:
    """`U+0000 (NUL)`: a character named so a person can find it."""
    name = _NAMES.get(ord(c)) or unicodedata.name(c, "")
    return f"U+{ord(c):04X}" + (f" ({name})" if name else "")


def visible(text: str) -> str:
    """The text with every refused character written out as an escape (`\\x00`)."""
    if not any(_refused(c) for c in text):
        return text
    return "".join((f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
                   if _refused(c) else c for c in text)


def _final(line: str) -> bool:
    return line == "OK" or line.startswith("ERR")


def _frame(reply: Reply) -> Reply:
    """Exactly one final line, last; every line printable and on one line."""
    if not reply or not _final(reply[-1]):
        log.error("console reply without a final line: %r", reply[-3:])
        reply = [*reply, "ERR internal error: the command gave no final OK/ERR line"]
    body = [one_line(visible(line)) for line in reply[:-1]]
    body = [f"text={line}" if _final(line) else line for line in body]
    return [*body, one_line(visible(reply[-1]))]


class Connection:
    """One console connection: what the UART calls for each line, and for streamed events."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def execute(self, line: str) -> Reply:
        """Run one console line; returns no lines (blank, comment) or lines ending in OK/ERR."""
        bad = next((i for i, c in enumerate(line) if _refused(c)), None)
        if bad is not None:
            return [f"ERR the line holds a control character, {describe_char(line[bad])}, at "
                    f"column {bad + 1}: a console line is printable text (tabs allowed); "
                    "nothing was run"]
        line = line.strip(" \t")
        if not line or line.startswith("#"):
            return []
        if len(line) > MAX_LINE:
            return [f"ERR line too long: at most {MAX_LINE} characters"]
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return [f"ERR cannot read the line ({exc}): close every quote"]
        if not words:  # only an empty quoted word: ''
            return ["ERR no command: type help for the list"]
        name, args = words[0].lower(), words[1:]
        session = self.session
        if session.login_required and not session.logged_in and name != "login":
            return [f"ERR {LOGIN_REQUIRED}"]
        command = session.commands.get(name)
        if command is None:
            return _frame([f"ERR unknown command {name!r}: type help for the list"])
        rest = line[len(words[0]):].strip()
        try:
            reply = await command.handler(session, args, rest)
        except FirmwareError as exc:
            reply = [f"ERR {one_line(exc)}"]
        except Exception as exc:  # a bug must not kill the console: say so, keep going
            log.exception("shell command %r failed", name)
            reply = [f"ERR internal error in {name}: {type(exc).__name__}: {one_line(exc)}"]
        return _frame(reply)

    async def unsolicited(self) -> str:
        """The next streamed event line (the UART writes it between replies)."""
        return visible(await self.session.stream.next_line())

    def close(self) -> None:
        self.session.stream.stop()


class Shell:
    """The console of one device, speaking the commands it was given (see `console.COMMANDS`).

    `api` is the device's API; a session reads it at every use, so `Shell.api` may be given
    a new one (tests do) and every open connection follows.
    """

    def __init__(self, api: DeviceApi, commands: Iterable[Command]) -> None:
        self.api = api
        self._commands = {c.name: c for c in commands}
        self._local = self.open()

    def commands(self) -> dict[str, Command]:
        return dict(self._commands)

    def open(self, *, login_required: bool = False) -> Connection:
        """A new console connection with a session of its own."""
        session = Session(lambda: self.api, self._commands, login_required=login_required)
        return Connection(session)

    def sessions_for(self, host: str) -> _Opener:
        """The session factory for a console bound to `host`: beyond loopback, each
        connection must log in first."""
        return _Opener(self, login_required=not is_loopback(host))

    async def execute(self, line: str) -> Reply:
        """Run a line on the shell's own in-process connection (no login: it is local)."""
        return await self._local.execute(line)


class _Opener:
    def __init__(self, shell: Shell, *, login_required: bool) -> None:
        self._shell = shell
        self.login_required = login_required

    def __call__(self) -> Connection:
        return self._shell.open(login_required=self.login_required)
