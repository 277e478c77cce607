"""Checking one console reply against the expectation lines under its command.

    OK                 the reply ends in OK (the default when no OK/ERR line is given)
    ERR text           the reply ends in ERR, and its reason contains `text`
    key=value          some `key=` line of the reply has exactly this value
    key=~regex         some `key=` line's value matches the regular expression (re.search)
    ~ regex            some line of the reply matches (for lines like mail log's `7=… refused …`)

`{name}` in an expectation is replaced by the variable's value before the check (escaped inside
a regular expression, so a value is always matched literally).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mfp_sim.tools.hil_console import ConsoleReply

from .syntax import VARIABLE, ScenarioError

__all__ = ["check_reply", "fill"]


def fill(text: str, variables: Mapping[str, str], where: str, *, regex: bool = False) -> str:
    """`text` with every `{name}` replaced; an unknown name is a `ScenarioError`."""
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in variables:
            known = ", ".join(sorted(variables)) or "none yet"
            raise ScenarioError(f"{where}: {{{name}}} is not known yet (no reply, --var or "
                                f"default gave it; known: {known})")
        return re.escape(variables[name]) if regex else variables[name]
    return VARIABLE.sub(sub, text)


def _values(reply: ConsoleReply, key: str) -> list[str]:
    prefix = key + "="
    return [line[len(prefix):] for line in reply.lines if line.startswith(prefix)]


def _shown(values: list[str]) -> str:
    if not values:
        return "no such line"
    return repr(values[0]) if len(values) == 1 else repr(values)


def check_reply(reply: ConsoleReply, expects: list[tuple[int, str]], path: str,
                variables: Mapping[str, str], line: int = 0) -> list[str]:
    """Every failed expectation as `path:line: what was expected, what came`; [] when all hold.
    `line` is the command's own line, named when the OK nobody wrote down is missing."""
    failures: list[str] = []
    final = [e for e in expects if e[1] == "OK" or e[1].startswith("ERR")] or [(line, "OK")]
    for no, exp in final:
        where = f"{path}:{no}"
        if exp == "OK" and not reply.ok:
            failures.append(f"{where}: expected OK, got ERR {reply.error}")
        elif exp.startswith("ERR"):
            want = fill(exp[3:].strip(), variables, where)
            if reply.ok or want not in reply.error:
                got = "OK" if reply.ok else f"ERR {reply.error}"
                failures.append(f"{where}: expected ERR containing {want!r}, got {got}")
    for no, exp in expects:
        where = f"{path}:{no}"
        if exp == "OK" or exp.startswith("ERR"):
            continue
        if exp.startswith("~"):
            pattern = fill(exp[1:].strip(), variables, where, regex=True)
            if not any(re.search(pattern, line) for line in reply.lines):
                failures.append(f"{where}: no line of the reply matches {pattern!r}")
        elif "=~" in exp:
            key, raw = exp.split("=~", 1)
            pattern = fill(raw, variables, where, regex=True)
            values = _values(reply, key)
            if not any(re.search(pattern, v) for v in values):
                failures.append(f"{where}: {key}={_shown(values)} does not match {pattern!r}")
        else:
            key, raw = exp.split("=", 1)
            want = fill(raw, variables, where)
            values = _values(reply, key)
            if want not in values:
                got = repr(values[0]) if len(values) == 1 else _shown(values)
                failures.append(f"{where}: expected {key}={want!r}, got {got}")
    return failures
