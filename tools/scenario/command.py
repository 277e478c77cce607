"""`mfp-sim scenario FILE… --console ADDRESS`: run files, print each step, write the report.

Exit status: 0 every testcase passed (or was skipped), 1 a step failed, 2 something kept a
file from running (it does not parse, the connection or the bench failed, a bad option).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from mfp_sim.tools.bench_control import BenchControl, BenchControlError
from mfp_sim.tools.hil_console import MfpConsole
from mfp_sim.tools.site_approver import ApproverError, SiteApprover
from mfp_sim.tools.testbed_file import TestbedError

from .junit import write_junit
from .runner import CaseResult, RunOptions, run_scenario
from .syntax import ScenarioError, parse_file

__all__ = ["ScenarioRun", "from_arguments", "library_dir", "library_files", "main", "parse_variables",
           "run_files"]


def library_dir() -> Path:
    """Where the scenario library shipped with mfp-sim lives (tests/scenarios is a link to it)."""
    return Path(str(resources.files("mfp_sim.tools.scenario") / "library"))


def library_files() -> list[Path]:
    return sorted(library_dir().glob("*.scn"))


@dataclass
class ScenarioRun:
    """Everything one `mfp-sim scenario` invocation runs with."""

    files: list[str]
    console: str
    testbed: str | None = None
    timeout: float = 15.0
    junit_xml: str | None = None
    approver: str | None = None
    approver_timeout: float = 120.0
    variables: dict[str, str] = field(default_factory=dict)
    password: str | None = None


def _skipped(path: str, title_lines: list[tuple[str, int]], why: str) -> list[CaseResult]:
    return [CaseResult(path, title, line, "skipped", why) for title, line in title_lines]


def _run_one(path: str, run: ScenarioRun, options: RunOptions) -> list[CaseResult]:
    log = options.log
    try:
        scenario = parse_file(path)
    except ScenarioError as exc:
        log(f"ERROR {exc}")
        return [CaseResult(path, Path(path).stem, 1, "error", str(exc), output=[f"ERROR {exc}"])]
    titles = [(s.title, s.line_no) for s in scenario.sections]
    bench_lines = scenario.bench_lines()
    if bench_lines and options.bench is None:
        line, verb = bench_lines[0]
        why = (f"needs the bench's control API ({path}:{line}: ! {verb}); run it with "
               "--testbed testbed.json")
        log(f"SKIP {path}: {why}")
        return _skipped(path, titles, why)
    try:
        with MfpConsole(run.console, timeout=run.timeout, password=run.password) as console:
            return run_scenario(scenario, console, options)
    except OSError as exc:
        message = f"{path}: cannot use the console {run.console}: {exc}"
        log(f"ERROR {message}")
        return [CaseResult(path, title, line, "error", message) for title, line in titles]


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_files(run: ScenarioRun, log: Callable[[str], None] = print,
              prompt: Callable[[str], None] = _to_stderr) -> list[tuple[str, list[CaseResult]]]:
    """Run each file on its own console connection, in order; the results by file.
    `prompt` is how `! wait-approval` tells a person the code (stderr by default)."""
    bench = BenchControl.from_file(run.testbed, timeout=run.timeout) if run.testbed else None
    approver = SiteApprover(run.approver, timeout=run.approver_timeout) if run.approver else None
    options = RunOptions(bench=bench, approver=approver, variables=dict(run.variables),
                         timeout=run.timeout, log=log, prompt=prompt)
    results: list[tuple[str, list[CaseResult]]] = []
    try:
        for path in run.files:
            if len(run.files) > 1:
                log(f"== {path}")
            cases = _run_one(path, run, options)
            statuses = {c.status for c in cases}
            verdict = ("FAILED" if statuses & {"failed", "error"} else
                       "skipped" if statuses == {"skipped"} else "passed")
            log(f"scenario {verdict}: {path}")
            results.append((path, cases))
    finally:
        if bench is not None:
            bench.close()
    return results


def parse_variables(pairs: Sequence[str] | None) -> dict[str, str]:
    """`--var NAME=VALUE` options as a mapping (a malformed one: `ScenarioError`)."""
    values: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ScenarioError(f"--var {pair!r}: use NAME=VALUE, e.g. --var account=qa@example.com")
        values[name] = value
    return values


def main(run: ScenarioRun) -> int:
    if not run.files:
        print("mfp-sim scenario: error: no scenario file given (or --library)", file=sys.stderr)
        return 2
    try:
        results = run_files(run)
    except (ScenarioError, TestbedError, BenchControlError, ApproverError, ValueError) as exc:
        print(f"mfp-sim scenario: error: {exc}", file=sys.stderr)
        return 2
    if run.junit_xml:
        write_junit(run.junit_xml, results)
    cases = [c for _, file_cases in results for c in file_cases]
    counts = {k: sum(1 for c in cases if c.status == k)
              for k in ("passed", "failed", "error", "skipped")}
    print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped, "
          f"{counts['error']} errors ({len(results)} file(s))"
          + (f"; JUnit XML: {run.junit_xml}" if run.junit_xml else ""))
    if counts["error"]:
        return 2
    return 1 if counts["failed"] else 0



def from_arguments(args: argparse.Namespace) -> int:
    """`mfp-sim scenario` with its parsed options (tools/cli.py declares them)."""
    if args.list:
        print("\n".join(str(p) for p in library_files()))
        return 0
    if not args.console:
        print("mfp-sim scenario: error: --console ADDRESS is required", file=sys.stderr)
        return 2
    try:
        variables = parse_variables(args.var)
    except ScenarioError as exc:
        print(f"mfp-sim scenario: error: {exc}", file=sys.stderr)
        return 2
    files = list(args.files) + ([str(p) for p in library_files()] if args.library else [])
    return main(ScenarioRun(files, args.console, args.testbed, args.timeout, args.junit_xml,
                            args.approver, args.approver_timeout, variables, args.password))
