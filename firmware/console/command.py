"""What every console command is made of: its row in a table, and the helpers handlers share.

A command is a row (`Command`): its name, its usage line, a one-line summary and an async
handler `handler(session, args, rest) -> reply lines`. The `Session` is what a handler may
use: the device's API and the command table (for `help`). Usage and summary may name the device's
contexts with `{stores}` (every token store name, SMTP function names too), `{receivers}` (the
POP settings) and `{contexts}` (every mail context), filled in from the device's own table when
`help` prints them, so a new context shows in the help without touching a command.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ..api import DeviceApi
from ..errors import CommandError

__all__ = ["Command", "Reply", "Handler", "Session", "need", "one_line", "iso", "options"]

Reply = list[str]


@dataclass
class Session:
    """What a command handler works with: the device's API and the console's command table."""

    api: DeviceApi
    commands: Mapping[str, Command]

    def fill(self, text: str) -> str:
        """A usage or summary with the device's context names put in (see the module doc)."""
        contexts = self.api.contexts
        return text.format(stores=contexts.usage().replace(", ", "|"),
                           receivers="|".join(c.name for c in contexts.pop()),
                           contexts="|".join(contexts.names()))


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
