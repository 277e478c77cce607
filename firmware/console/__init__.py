"""The serial console: the language a device speaks to scripts and people, above the API.

Map (imports point down the list):
    shell      `Shell`: one line in, reply lines out (`key=value` …, then `OK` or `ERR <reason>`)
    core       help, get, set, settings, providers, clock
    tokens     token <store> status|get|clear|refresh|wait, stores
    mail       scan, ifax send, job, jobs, tray, test, mail check
    command    `Command` (one row of a table), `Session` (what a handler works with), helpers

`COMMANDS` is the whole language, one table per topic; `help` prints it and docs/shell.md
follows it (a test keeps them in step). To add a command: write its handler in the module of
its topic and add its row to that module's table (docs/architecture.md).
"""

from __future__ import annotations

from .command import Command, Session
from .core import CORE_COMMANDS
from .mail import MAIL_COMMANDS
from .shell import Shell
from .tokens import TOKEN_COMMANDS

__all__ = ["COMMANDS", "Command", "Session", "Shell"]

#: Every console command, in the order `help` lists them.
COMMANDS: tuple[Command, ...] = CORE_COMMANDS + TOKEN_COMMANDS + MAIL_COMMANDS
