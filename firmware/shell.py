"""The debug shell: the language spoken on the device's serial console.

Line based, made for scripts first and people second. Every command answers zero or more
`key=value` lines and then exactly one final line, `OK` or `ERR <reason>`, so a script reads
until a line starts with OK or ERR. Values are single-line; secrets are masked. Unknown
commands, missing arguments and refused values all end in `ERR` with what is allowed; the
shell never raises.

The command table (`COMMANDS`) is the reference: `help` prints it and docs/shell.md follows it.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .errors import CommandError, FirmwareError
from .settings import SECTIONS
from .tokens.machine import TokenState
from .tokens.store import TokenStatus

if TYPE_CHECKING:
    from .api import DeviceApi

__all__ = ["Shell", "COMMANDS"]

log = logging.getLogger(__name__)

Reply = list[str]
Handler = Callable[["Shell", list[str], str], Awaitable[Reply]]

MAX_LINE = 4096
MAX_WAIT = 3600.0


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    summary: str
    handler: Handler


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Shell:
    def __init__(self, api: DeviceApi) -> None:
        self.api = api
        self._extra: dict[str, Command] = {}

    def register(self, command: Command) -> None:
        """Let a later subsystem (mail, jobs) add its commands to the same console."""
        self._extra[command.name] = command

    def commands(self) -> dict[str, Command]:
        return {**COMMANDS, **self._extra}

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
        command = self.commands().get(name)
        if command is None:
            return [f"ERR unknown command {name!r}: type help for the list"]
        rest = line[len(words[0]):].strip()
        try:
            reply = await command.handler(self, args, rest)
        except FirmwareError as exc:
            return [f"ERR {_one_line(exc)}"]
        except Exception as exc:  # a bug must not kill the console: say so, keep going
            log.exception("shell command %r failed", name)
            return [f"ERR internal error in {name}: {type(exc).__name__}: {_one_line(exc)}"]
        return [_one_line(r) if not r.startswith(("OK", "ERR")) else r for r in reply]


# --------------------------------------------------------------- commands
def _need(args: list[str], count: int, usage: str) -> None:
    if len(args) < count:
        raise CommandError(f"usage: {usage}")


async def _help(shell: Shell, args: list[str], rest: str) -> Reply:
    commands = shell.commands()
    if args:
        cmd = commands.get(args[0].lower())
        if cmd is None:
            raise CommandError(f"no command {args[0]!r}: type help for the list")
        return [f"usage={cmd.usage}", f"summary={cmd.summary}", "OK"]
    return [f"{c.name}={c.usage}  -- {c.summary}" for c in commands.values()] + ["OK"]


async def _get(shell: Shell, args: list[str], rest: str) -> Reply:
    _need(args, 1, "get <key>")
    return [f"{args[0]}={shell.api.get(args[0])}", "OK"]


async def _set(shell: Shell, args: list[str], rest: str) -> Reply:
    _need(args, 1, "set <key> <value>")
    value = " ".join(args[1:])
    changed = await shell.api.set(args[0], value)
    return [f"{k}={v}" for k, v in changed.items()] + ["OK"]


async def _settings(shell: Shell, args: list[str], rest: str) -> Reply:
    sections = [args[0]] if args else list(SECTIONS)
    lines: Reply = []
    for section in sections:
        lines += [f"{k}={v}" for k, v in shell.api.settings_items(section)]
    return lines + ["OK"]


def _status_lines(st: TokenStatus, now: float) -> Reply:
    lines = [f"store={st.store}", f"state={st.state.value}", f"label={st.label}",
             f"account={st.account}", f"provider={st.provider}", f"reason={st.reason}"]
    if st.access_expires_at is not None:
        lines.append(f"access_expires_in={max(0, int(st.access_expires_at - now))}")
    if st.prompt is not None:
        lines += [f"verification_uri={st.prompt.verification_uri}", f"user_code={st.prompt.user_code}",
                  f"expires_in={max(0, int(st.prompt.expires_at - now))}"]
    return lines


async def _token(shell: Shell, args: list[str], rest: str) -> Reply:
    usage = "token <store> status|get|clear|refresh|wait <state> [seconds]"
    _need(args, 2, usage)
    api, store, action = shell.api, args[0], args[1].lower()
    if action == "status":
        return _status_lines(api.token_status(store), api.now()) + ["OK"]
    if action == "get":
        prompt = await api.get_token(store)
        return [f"verification_uri={prompt.verification_uri}", f"user_code={prompt.user_code}",
                f"expires_in={max(0, int(prompt.expires_at - api.now()))}",
                f"verification_uri_complete={prompt.verification_uri_complete}", "OK"]
    if action == "clear":
        await api.clear_token(store)
        return _status_lines(api.token_status(store), api.now())[:3] + ["OK"]
    if action == "refresh":
        await api.refresh_token(store)
        return _status_lines(api.token_status(store), api.now()) + ["OK"]
    if action == "wait":
        _need(args, 3, "token <store> wait <state> [seconds]")
        return await _wait(shell, store, args[2], args[3] if len(args) > 3 else "30")
    raise CommandError(f"unknown action {action!r}: {usage}")


async def _wait(shell: Shell, store: str, state_text: str, seconds_text: str) -> Reply:
    """Wait (real time, bounded) until a store reaches a state: for scripts on a real clock."""
    try:
        wanted = TokenState(state_text)
    except ValueError:
        raise CommandError(f"unknown state {state_text!r}: one of "
                           + "|".join(s.value for s in TokenState)) from None
    try:
        seconds = float(seconds_text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= MAX_WAIT:
        raise CommandError(f"seconds must be a number from 0 to {int(MAX_WAIT)}")
    api = shell.api
    sub = api.subscribe()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while api.token_status(store).state is not wanted:
            left = deadline - loop.time()
            if left <= 0:
                st = api.token_status(store)
                return [f"state={st.state.value}", f"reason={st.reason}",
                        f"ERR timeout: {store} is still {st.state.value} after {seconds_text} s"]
            try:
                await sub.get(timeout=left)
            except TimeoutError:
                continue
    finally:
        sub.close()
    return _status_lines(api.token_status(store), api.now()) + ["OK"]


async def _stores(shell: Shell, args: list[str], rest: str) -> Reply:
    return [f"{n}={shell.api.token_status(n).state.value}" for n in shell.api.store_names()] + ["OK"]


async def _providers(shell: Shell, args: list[str], rest: str) -> Reply:
    lines = []
    for p in shell.api.providers():
        client = "yes" if p.client_id else "no"
        lines.append(f"{p.name}=authority:{p.authority} client_id_set:{client} {p.note}".strip())
    return lines + ["OK"]


async def _clock(shell: Shell, args: list[str], rest: str) -> Reply:
    api = shell.api
    if args and args[0].lower() == "advance":
        _need(args, 2, "clock advance <seconds>")
        try:
            seconds = float(args[1])
        except ValueError:
            raise CommandError(f"{args[1]!r} is not a number of seconds") from None
        await api.advance_clock(seconds)
    elif args:
        raise CommandError("usage: clock | clock advance <seconds>")
    now = api.now()
    return [f"now={now:.3f}", f"iso={_iso(now)}", f"kind={'virtual' if api.clock.virtual else 'real'}", "OK"]


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("help", "help [command]", "list commands, or show one", _help),
    Command("get", "get <key>", "show one setting (secrets masked)", _get),
    Command("set", "set <key> <value>", "change one setting; prints every key that changed", _set),
    Command("settings", "settings [section]", "show all settings, or one section", _settings),
    Command("token", "token <store> status|get|clear|refresh|wait <state> [seconds]",
            "token stores: smtp, pop.ifax, pop.emailprint (or an SMTP function name)", _token),
    Command("stores", "stores", "every token store and its state", _stores),
    Command("providers", "providers", "the OAuth providers this device knows", _providers),
    Command("clock", "clock | clock advance <seconds>", "device time; advance a virtual clock", _clock),
)}
