"""Reading a scenario file: lines into steps and sections, every mistake named by its line.

The actions a file may use are one table, `ACTIONS` (name, arguments, what it needs, what it
does); the parser checks each `!` line against it, and docs/hil.md lists the same rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from mfp_sim.firmware.contexts import CONTEXTS

__all__ = ["ACTIONS", "Action", "Scenario", "ScenarioError", "Section", "Step", "STORE_NAMES",
           "parse", "parse_file"]


class ScenarioError(Exception):
    """The file does not parse, or a step cannot be run as written; the message names the line."""


#: Names a `token <store>` command accepts: the stores and the SMTP functions sharing `smtp`.
STORE_NAMES: tuple[str, ...] = tuple(
    [c.name for c in CONTEXTS] + [f.name for c in CONTEXTS for f in c.functions])


@dataclass(frozen=True)
class Action:
    """One kind of `!` line."""

    name: str
    usage: str
    min_args: int
    max_args: int | None  # None: any number from min_args on
    needs: str  # "bench" (control API), "approval" (bench or --approver), "device", "runner"
    summary: str


ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("approve", "approve STORE | approve CODE ACCOUNT", 1, 2, "approval",
           "approve the device code: through the bench, or the site's approver (--approver)"),
    Action("wait-approval", "wait-approval STORE SECONDS", 2, 2, "device",
           "print the code and wait (real seconds) for a person to approve it"),
    Action("deny", "deny CODE | deny STORE", 1, 1, "bench", "the person declines the code"),
    Action("revoke", "revoke ACCOUNT", 1, 1, "bench", "the admin revokes every grant of the account"),
    Action("disable", "disable ACCOUNT", 1, 1, "bench", "the admin disables the account"),
    Action("enable", "enable ACCOUNT", 1, 1, "bench", "the admin enables the account again"),
    Action("slow_down", "slow_down N", 1, 1, "bench", "the next N polls answer slow_down"),
    Action("fault", "fault NAME [username=U] [count=N] [phases=P,Q] [OPTION=VALUE]...", 1, None,
           "bench", "arm an entry of the fault catalogue (docs/faults.md)"),
    Action("disarm", "disarm [NAME]", 0, 1, "bench", "disarm one fault, or all"),
    Action("config", "config KNOB=VALUE...", 1, None, "bench",
           "change identity-provider knobs (docs/testbed.md, /control/config)"),
    Action("reset", "reset", 0, 0, "device",
           "factory-reset yes on the device (and, with a bench, every fault disarmed)"),
    Action("within", "within SECONDS", 1, 1, "runner",
           "repeat the next command until its expectations hold, at most SECONDS (real time)"),
    Action("default", "default NAME VALUE", 2, None, "runner",
           "give {NAME} a value unless --var gave it one"),
)}

#: `{name}`: a value a reply gave, a --var, or a default. A name starts with a letter, so the
#: counts of a regular expression (`[A-Z]{4}`) are never taken for one.
VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")


@dataclass
class Step:
    line_no: int
    kind: str  # "command" or "action"
    text: str
    expects: list[tuple[int, str]] = field(default_factory=list)
    section: int = 0  # index into Scenario.sections
    within: float | None = None  # command: repeated until its expectations hold (real seconds)


@dataclass(frozen=True)
class Section:
    """One testcase of the report: a `## title` and the steps up to the next one."""

    title: str
    line_no: int


@dataclass
class Scenario:
    path: str
    steps: list[Step]
    sections: list[Section] = field(default_factory=list)

    @property
    def name(self) -> str:
        return Path(self.path).stem

    def bench_lines(self) -> list[tuple[int, str]]:
        """(line, action) of every step that only the bench's control API can do."""
        return [(s.line_no, s.text.split()[0]) for s in self.steps
                if s.kind == "action" and ACTIONS[s.text.split()[0]].needs == "bench"]


def _allowed() -> str:
    return "; ".join(a.usage for a in ACTIONS.values())


def _check_action(words: list[str], where: str, line: str) -> None:
    action = ACTIONS.get(words[0]) if words else None
    if action is None:
        raise ScenarioError(f"{where}: unknown bench action {line!r}: one of {_allowed()}")
    args = words[1:]
    too_many = action.max_args is not None and len(args) > action.max_args
    if len(args) < action.min_args or too_many:
        raise ScenarioError(f"{where}: unknown bench action {line!r}: use {action.usage}")
    if action.name == "approve" and len(args) == 1 and not _store_like(args[0]):
        raise ScenarioError(f"{where}: unknown bench action {line!r}: use {action.usage} "
                            f"(STORE: one of {', '.join(STORE_NAMES)})")
    if action.name == "within" and not _seconds_like(args[0], variables=False):
        raise ScenarioError(f"{where}: within: {args[0]!r} is not a number of seconds "
                            "(more than 0)")
    if action.name == "wait-approval" and not _seconds_like(args[-1]):
        raise ScenarioError(f"{where}: {action.name}: {args[-1]!r} is not a number of seconds "
                            "(more than 0)")
    if action.name in ("fault", "config"):
        pairs = args[1:] if action.name == "fault" else args
        bad = [a for a in pairs if "=" not in a or a.startswith("=")]
        if bad:
            raise ScenarioError(f"{where}: {action.name}: {bad[0]!r} is not NAME=VALUE: "
                                f"use {action.usage}")
    if action.name == "default" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", args[0]):
        raise ScenarioError(f"{where}: default: {args[0]!r} is not a variable name "
                            "(a letter, then letters, digits, '_' or '.')")


def _store_like(word: str) -> bool:
    return word in STORE_NAMES or bool(VARIABLE.fullmatch(word))


def _seconds_like(word: str, *, variables: bool = True) -> bool:
    if variables and VARIABLE.fullmatch(word):
        return True
    try:
        return float(word) > 0
    except ValueError:
        return False


def _check_expectation(line: str, where: str) -> None:
    if line.startswith("~"):
        pattern = line[1:].strip()
        if not pattern:
            raise ScenarioError(f"{where}: '~' needs a regular expression for some reply line")
    elif line == "OK" or line.startswith("ERR"):
        return
    elif "=" in line:
        pattern = line.split("=~", 1)[1] if "=~" in line else ""
        if not pattern:
            return
    else:
        raise ScenarioError(f"{where}: expected 'key=value', 'key=~regex', '~ regex', 'OK' or "
                            "'ERR text'")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ScenarioError(f"{where}: bad regular expression: {exc}") from None


def parse(text: str, path: str = "<scenario>") -> Scenario:
    steps: list[Step] = []
    sections: list[Section] = []
    within: tuple[int, float] | None = None
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{path}:{no}"
        if line.startswith("##"):
            title = line.lstrip("#").strip()
            if not title:
                raise ScenarioError(f"{where}: a section line needs a title: ## what it checks")
            if sections and not any(s.section == len(sections) - 1 for s in steps):
                raise ScenarioError(f"{path}:{sections[-1].line_no}: section "
                                    f"{sections[-1].title!r} has no steps")
            if not sections and steps:
                sections.append(Section("setup", steps[0].line_no))
            sections.append(Section(title, no))
            continue
        if not line or line.startswith("#"):
            continue
        index = max(len(sections) - 1, 0)
        if line.startswith(">"):
            step = Step(no, "command", line[1:].strip(), section=index)
            if within is not None:
                step.within, within = within[1], None
            steps.append(step)
        elif line.startswith("!"):
            words = line[1:].split()
            _check_action(words, where, line)
            if within is not None:
                raise ScenarioError(f"{path}:{within[0]}: '! within' must be followed by a "
                                    "'> command' line")
            if words[0] == "within":
                within = (no, float(words[1]))
                continue
            steps.append(Step(no, "action", " ".join(words), section=index))
        else:
            if not steps or steps[-1].kind != "command" or within is not None:
                raise ScenarioError(f"{where}: an expectation must follow a '> command' line")
            _check_expectation(line, where)
            steps[-1].expects.append((no, line))
    if within is not None:
        raise ScenarioError(f"{path}:{within[0]}: '! within' must be followed by a '> command' line")
    if not steps:
        raise ScenarioError(f"{path}: no steps")
    if sections and not any(s.section == len(sections) - 1 for s in steps):
        raise ScenarioError(f"{path}:{sections[-1].line_no}: section {sections[-1].title!r} "
                            "has no steps")
    if not sections:
        sections.append(Section(Path(path).stem, steps[0].line_no))
    return Scenario(path, steps, sections)


def parse_file(path: str | Path) -> Scenario:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not UTF-8 text") from None
    return parse(text, str(path))
