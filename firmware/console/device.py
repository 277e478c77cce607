"""Console commands about the device as a whole: the event stream, the network link, power,
and going back to factory values.

These are what a QA script needs around the mail functions: watch what happens (`events`),
pull the cable (`network down`), cut the power at an instant (`power cycle`), and start again
from a known state (`reset <section>`, `factory-reset yes`).
"""

from __future__ import annotations

from ..errors import CommandError
from ..events import EVENT_KINDS
from .command import Command, Reply, Session

__all__ = ["DEVICE_COMMANDS"]

EVENTS_USAGE = "events | events on [{kinds}]... | events off"
FACTORY_WORD = "yes"


async def _events(session: Session, args: list[str], rest: str) -> Reply:
    stream = session.stream
    action = args[0].lower() if args else ""
    if action == "on":
        kinds = [k.lower() for k in args[1:]] or list(EVENT_KINDS)
        unknown = [k for k in kinds if k not in EVENT_KINDS]
        if unknown:
            raise CommandError(f"unknown event kind {unknown[0]!r}: one of "
                               f"{', '.join(EVENT_KINDS)}")
        stream.start(session.api.events, list(dict.fromkeys(kinds)))
    elif action == "off":
        stream.stop()
    elif action:
        raise CommandError(f"usage: {session.fill(EVENTS_USAGE)}")
    return [f"events={'on' if stream.on else 'off'}", f"kinds={','.join(stream.kinds)}", "OK"]


async def _network(session: Session, args: list[str], rest: str) -> Reply:
    api = session.api
    if args:
        if len(args) != 1 or args[0].lower() not in ("up", "down"):
            raise CommandError("usage: network | network up | network down")
        changed = api.set_network(args[0].lower() == "up")
        return [f"network={'up' if api.network_up else 'down'}",
                f"changed={'yes' if changed else 'no'}", "OK"]
    return [f"network={'up' if api.network_up else 'down'}", "OK"]


async def _power(session: Session, args: list[str], rest: str) -> Reply:
    if [a.lower() for a in args] != ["cycle"]:
        raise CommandError("usage: power cycle (cut the power now and switch on again)")
    await session.api.power_cycle()
    return ["power=on", "OK"]


async def _reset(session: Session, args: list[str], rest: str) -> Reply:
    if len(args) != 1:
        raise CommandError(session.fill("usage: reset {sections} (factory-reset: everything)"))
    api = session.api
    deleted = await api.reset_section(args[0])
    return ([f"reset={args[0]}", f"records_deleted={len(deleted)}"]
            + [f"{k}={v}" for k, v in api.settings_items(args[0])] + ["OK"])


async def _factory_reset(session: Session, args: list[str], rest: str) -> Reply:
    if [a.lower() for a in args] != [FACTORY_WORD]:
        raise CommandError("factory-reset restores every setting to its factory value and "
                           "deletes every token and send job: to do it, type "
                           f"factory-reset {FACTORY_WORD}")
    deleted = await session.api.factory_reset()
    return ["factory_reset=done", f"records_deleted={len(deleted)}", "OK"]


DEVICE_COMMANDS: tuple[Command, ...] = (
    Command("events", EVENTS_USAGE,
            "stream event=<kind> key=value lines between replies on this connection", _events),
    Command("network", "network | network up | network down",
            "the network link: down is a pulled cable (new connections fail)", _network),
    Command("power", "power cycle", "cut the power at this instant and switch on again", _power),
    Command("reset", "reset {sections}",
            "one section back to factory values (its token too); the device restarts", _reset),
    Command("factory-reset", f"factory-reset {FACTORY_WORD}",
            "every setting to factory values, every token and send job deleted; restarts",
            _factory_reset),
)
