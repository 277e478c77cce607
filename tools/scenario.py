"""Declarative black-box scenarios, run against a device's console (and its bench).

A scenario is a text file QA can read and write without Python:

    # lines starting with '#' are comments
    > set smtp.account alice@example.test      send a console line
    smtp.account=alice@example.test            expect this key=value in the reply
    > token smtp get
    user_code=~^[A-Z]{4}-[A-Z]{4}$             '~' : the value must match the regex
    OK                                         the reply must end in OK (the default)
    ! approve {user_code} alice@example.test   a bench action (control API; needs testbed.json)
    > set smtp.port 0
    ERR 1 to 65535                             the reply must end in ERR containing this text

Every value a reply gives is remembered and can be used later as `{key}`. Bench actions are
`approve CODE USER`, `deny CODE`, `revoke USER`, `disable USER`, `enable USER`, `slow_down N`.

    mfp-sim scenario FILE --console tcp:127.0.0.1:PORT [--testbed testbed.json]

`--console` takes any address form (`tcp:HOST:PORT`, `socket://HOST:PORT`, `/dev/pts/N`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from .hil import ConsoleReply, MfpConsole

__all__ = ["Scenario", "ScenarioError", "Step", "parse", "run"]


class ScenarioError(Exception):
    """The file does not parse; the message names the line."""


@dataclass
class Step:
    line_no: int
    kind: str  # "command" or "action"
    text: str
    expects: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Scenario:
    path: str
    steps: list[Step]


_ACTIONS = {"approve": 2, "deny": 1, "revoke": 1, "disable": 1, "enable": 1, "slow_down": 1}


def parse(text: str, path: str = "<scenario>") -> Scenario:
    steps: list[Step] = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(">"):
            steps.append(Step(no, "command", line[1:].strip()))
        elif line.startswith("!"):
            words = line[1:].split()
            if not words or words[0] not in _ACTIONS or len(words) - 1 != _ACTIONS[words[0]]:
                allowed = ", ".join(f"{k} ({v} argument{'s' if v > 1 else ''})" for k, v in _ACTIONS.items())
                raise ScenarioError(f"{path}:{no}: unknown bench action {line!r}: one of {allowed}")
            steps.append(Step(no, "action", " ".join(words)))
        else:
            if not steps or steps[-1].kind != "command":
                raise ScenarioError(f"{path}:{no}: an expectation must follow a '> command' line")
            if not (line == "OK" or line.startswith("ERR") or "=" in line):
                raise ScenarioError(f"{path}:{no}: expected 'key=value', 'key=~regex', 'OK' or 'ERR text'")
            if "=~" in line:
                try:
                    re.compile(line.split("=~", 1)[1])
                except re.error as exc:
                    raise ScenarioError(f"{path}:{no}: bad regular expression: {exc}") from None
            steps[-1].expects.append((no, line))
    if not steps:
        raise ScenarioError(f"{path}: no steps")
    return Scenario(path, steps)


def _fill(text: str, variables: dict[str, str], where: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in variables:
            raise ScenarioError(f"{where}: {{{name}}} is not known yet (no reply gave it)")
        return variables[name]
    return re.sub(r"\{([A-Za-z0-9_.]+)\}", sub, text)


def _check(reply: ConsoleReply, expects: list[tuple[int, str]], path: str) -> list[str]:
    failures: list[str] = []
    final = [e for e in expects if e[1] == "OK" or e[1].startswith("ERR")]
    if not final:
        final = [(0, "OK")]
    for no, exp in final:
        if exp == "OK" and not reply.ok:
            failures.append(f"{path}:{no}: expected OK, got ERR {reply.error}")
        elif exp.startswith("ERR"):
            want = exp[3:].strip()
            if reply.ok or want not in reply.error:
                got = "OK" if reply.ok else f"ERR {reply.error}"
                failures.append(f"{path}:{no}: expected ERR containing {want!r}, got {got}")
    for no, exp in expects:
        if exp == "OK" or exp.startswith("ERR"):
            continue
        if "=~" in exp:
            key, pattern = exp.split("=~", 1)
            value = reply.values.get(key)
            if value is None or not re.search(pattern, value):
                failures.append(f"{path}:{no}: {key}={value!r} does not match {pattern!r}")
        else:
            key, want = exp.split("=", 1)
            if reply.values.get(key) != want:
                failures.append(f"{path}:{no}: expected {key}={want!r}, got {reply.values.get(key)!r}")
    return failures


def _action(text: str, testbed: dict[str, Any] | None, where: str) -> None:
    if testbed is None:
        raise ScenarioError(f"{where}: bench actions need --testbed testbed.json")
    verb, *args = text.split()
    body: dict[str, Any] = {
        "approve": lambda: {"user_code": args[0], "username": args[1]},
        "deny": lambda: {"user_code": args[0]},
        "slow_down": lambda: {"count": int(args[0]) if args[0].isdigit() else args[0]},
    }.get(verb, lambda: {"username": args[0]})()
    session = requests.Session()
    session.trust_env = False
    answer = session.post(f"{testbed['control_url']}/{verb}", json=body, verify=testbed["ca_file"], timeout=15)
    if answer.status_code != 200:
        raise ScenarioError(f"{where}: bench refused {text!r}: {answer.text.strip()}")


def run(scenario: Scenario, console: MfpConsole, testbed: dict[str, Any] | None = None,
        log: Any = print) -> bool:
    """Run every step; print one line per step; True when all passed (stops at the first failure)."""
    variables: dict[str, str] = {}
    for step in scenario.steps:
        where = f"{scenario.path}:{step.line_no}"
        text = _fill(step.text, variables, where)
        if step.kind == "action":
            _action(text, testbed, where)
            log(f"ok   ! {text}")
            continue
        reply = console.run(text)
        variables.update(reply.values)
        failures = _check(reply, step.expects, scenario.path)
        if failures:
            log(f"FAIL > {text}")
            for f in failures:
                log(f"     {f}")
            for line in reply.lines + ["OK" if reply.ok else f"ERR {reply.error}"]:
                log(f"     | {line}")
            return False
        log(f"ok   > {text}")
    return True


def main(path: str, console_url: str, testbed_path: str | None, timeout: float) -> int:
    try:
        scenario = parse(Path(path).read_text(encoding="utf-8"), path)
        testbed = json.loads(Path(testbed_path).read_text()) if testbed_path else None
        with MfpConsole(console_url, timeout=timeout) as console:
            passed = run(scenario, console, testbed)
    except (OSError, ScenarioError, ValueError) as exc:
        print(f"mfp-sim scenario: error: {exc}")
        return 2
    print("scenario passed" if passed else "scenario FAILED")
    return 0 if passed else 1
