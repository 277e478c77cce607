"""Console commands about the device itself: help, settings, providers, the clock."""

from __future__ import annotations

import shlex

from ..errors import CommandError, ConfirmationNeeded
from .command import Command, Reply, Session, iso, need

__all__ = ["CORE_COMMANDS"]


async def _help(session: Session, args: list[str], rest: str) -> Reply:
    commands = session.commands
    if args:
        cmd = commands.get(args[0].lower())
        if cmd is None:
            raise CommandError(f"no command {args[0]!r}: type help for the list")
        return [f"usage={session.fill(cmd.usage)}", f"summary={session.fill(cmd.summary)}", "OK"]
    return [f"{c.name}={session.fill(c.usage)}  -- {session.fill(c.summary)}"
            for c in commands.values()] + ["OK"]


async def _get(session: Session, args: list[str], rest: str) -> Reply:
    need(args, 1, "get <key>")
    return [f"{args[0]}={session.api.get(args[0])}", "OK"]


CONFIRM = "--confirm"
SET_USAGE = f"set <key> <value> [{CONFIRM}]"


async def _set(session: Session, args: list[str], rest: str) -> Reply:
    need(args, 1, SET_USAGE)
    key, words = args[0], args[1:]
    confirm = len(words) > 1 and words[-1] == CONFIRM
    if confirm:
        words = words[:-1]
    value = " ".join(words)
    try:
        changed = await session.api.set(key, value, confirm=confirm)
    except ConfirmationNeeded as exc:
        shown = shlex.join([key, value]) if value else f"{key} ''"
        raise CommandError(f"{exc}; if that server is meant to have it, repeat with {CONFIRM}: "
                           f"set {shown} {CONFIRM} (or clear the token first)") from None
    # The key as the device holds it now, changed or not, then whatever else changed with it.
    section, name = session.api.settings.split_key(key)
    held = f"{section.name}.{name}"
    lines = [f"{held}={session.api.get(held)}"]
    return lines + [f"{k}={v}" for k, v in changed.items() if k != held] + ["OK"]


async def _settings(session: Session, args: list[str], rest: str) -> Reply:
    sections = [args[0]] if args else list(session.api.contexts.sections)
    lines: Reply = []
    for section in sections:
        lines += [f"{k}={v}" for k, v in session.api.settings_items(section)]
    return lines + ["OK"]


async def _providers(session: Session, args: list[str], rest: str) -> Reply:
    lines = []
    for p in session.api.providers():
        client = "yes" if p.client_id else "no"
        lines.append(f"{p.name}=authority:{p.authority} client_id_set:{client} {p.note}".strip())
    return lines + ["OK"]


CLOCK_USAGE = "clock | clock set <ISO 8601 time> | clock advance <seconds>"


async def _clock(session: Session, args: list[str], rest: str) -> Reply:
    api = session.api
    if args and args[0].lower() == "advance":
        need(args, 2, "clock advance <seconds>")
        try:
            seconds = float(args[1])
        except ValueError:
            raise CommandError(f"{args[1]!r} is not a number of seconds") from None
        await api.advance_clock(seconds)
    elif args and args[0].lower() == "set":
        if len(args) != 2:
            raise CommandError("usage: clock set <ISO 8601 time>, e.g. clock set 2027-01-15T08:00:00Z")
        await api.set_clock(args[1])
    elif args:
        raise CommandError(f"usage: {CLOCK_USAGE}")
    now = api.now()
    return [f"now={now:.3f}", f"iso={iso(now)}", f"kind={'virtual' if api.clock.virtual else 'real'}",
            "OK"]


CORE_COMMANDS: tuple[Command, ...] = (
    Command("help", "help [command]", "list commands, or show one", _help),
    Command("get", "get <key>", "show one setting (secrets masked)", _get),
    Command("set", SET_USAGE,
            "change one setting; prints it as the device now holds it, and every other key "
            "that changed with it", _set),
    Command("settings", "settings [section]", "show all settings, or one section", _settings),
    Command("providers", "providers", "the OAuth providers this device knows", _providers),
    Command("clock", CLOCK_USAGE,
            "device time; set it (tokens plan again), or advance a virtual clock", _clock),
)
