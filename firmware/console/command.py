"""What every console command is made of: its row in a table, and the helpers handlers share.

A command is a row (`Command`): its name, its usage line, a one-line summary and an async
handler `handler(session, args, rest) -> reply lines`. The `Session` is what a handler may
use: the device's API, the command table (for `help`) and the state of its own connection
(logged in or not, the events it streams). Usage and summary may name the device's
contexts with `{stores}` (every token store name, SMTP function names too), `{receivers}` (the
POP settings), `{contexts}` (every mail context), `{sections}` (every settings section) and
`{kinds}` (every event kind), filled in from the device's own tables when `help` prints them,
so a new context shows in the help without touching a command.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ..api import DeviceApi
from ..errors import CommandError
from ..events import EVENT_KINDS
from .streaming import EventStream

__all__ = ["Command", "Reply", "Handler", "Session", "need", "one_line", "iso", "options"]

Reply = list[str]


class Session:
    """One console connection as its commands see it.

    `api` is read through the shell at every use, so a session outlives a power cycle (the
    UART is hardware: the connection survives, and so do its login and its event stream).
    """

    def __init__(self, api: Callable[[], DeviceApi], commands: Mapping[str, Command], *,
                 login_required: bool = False) -> None:
        self._api = api
        self.commands = commands
        self.login_required = login_required
        self.logged_in = False
        self.stream = EventStream()

    @property
    def api(self) -> DeviceApi:
        return self._api()

    def fill(self, text: str) -> str:
        """A usage or summary with the device's context names put in (see the module doc)."""
        contexts = self.api.contexts
        return text.format(stores=contexts.usage().replace(", ", "|"),
                           receivers="|".join(c.name for c in contexts.pop()),
                           contexts="|".join(contexts.names()),
                           sections="|".join(contexts.sections),
                           kinds="|".join(EVENT_KINDS))


Handler = Callable[[Session, list[str], str], Awaitable[Reply]]


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    summary: str
    handler: Handler


def need(args: list[str], count: int, usage: str) -> None:
    if len(args) < count:
        raise CommandError(f"usage: {usage}")


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def options(args: list[str], allowed: dict[str, str], usage: str) -> dict[str, str]:
    """`key=value` words, each key allowed and given once."""
    values: dict[str, str] = {}
    for word in args:
        key, sep, value = word.partition("=")
        key = key.lower()
        if not sep or key not in allowed:
            wanted = ", ".join(f"{k}=<{v}>" for k, v in allowed.items())
            raise CommandError(f"{word!r} is not understood: {usage} (arguments: {wanted})")
        if key in values:
            raise CommandError(f"{key}= given twice: {usage}")
        values[key] = value
    return values
