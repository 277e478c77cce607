"""The serial console: the language a device speaks to scripts and people, above the API.

Map (imports point down the list):
    shell      `Shell`: one `Connection` per console connection; one line in, reply lines out
               (`key=value` …, then `OK` or `ERR <reason>`); what a line may hold
    core       help, get, set, settings, providers, clock
    admin      login, password
    tokens     token <store> status|get|clear|refresh|wait, stores
    mail       scan, ifax send, job, jobs, tray, test, mail check, mail log
    device     events, network, power cycle, reset, factory-reset
    command    `Command` (one row of a table), `Session` (what a handler works with), helpers
    streaming  `EventStream`: the events one connection streams between replies

`COMMANDS` is the whole language, one table per topic; `help` prints it and docs/shell.md
follows it (a test keeps them in step). To add a command: write its handler in the module of
its topic and add its row to that module's table (docs/architecture.md).
"""

from __future__ import annotations

from .admin import ADMIN_COMMANDS
from .command import Command, Session
from .core import CORE_COMMANDS
from .device import DEVICE_COMMANDS
from .mail import MAIL_COMMANDS
from .shell import Connection, Shell
from .tokens import TOKEN_COMMANDS

__all__ = ["COMMANDS", "Command", "Connection", "Session", "Shell"]

#: Every console command, in the order `help` lists them.
COMMANDS: tuple[Command, ...] = (CORE_COMMANDS + ADMIN_COMMANDS + TOKEN_COMMANDS + MAIL_COMMANDS
                                 + DEVICE_COMMANDS)
