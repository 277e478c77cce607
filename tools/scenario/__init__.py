"""Declarative black-box scenarios, run against a device's console (and its bench).

A scenario is a text file QA can read and write without Python (docs/hil.md has the whole
language; the library of files this project runs is `library/`, shipped with the package):

    ! reset                                    factory-reset the device first: rerunnable
    ## Get the SMTP token                      a section: one testcase in the JUnit report
    > set smtp.account alice@example.test      send a console line
    smtp.account=alice@example.test            expect this key=value in the reply
    > token smtp get
    user_code=~^[A-Z0-9]{9}$                   '=~': the value must match the regex
    ! approve smtp                             the bench, or the site's approver, approves
    > clock advance 5
    > token smtp wait retrieved 15
    state=retrieved
    > set smtp.port 0
    ERR 1 to 65535                             the reply must end in ERR containing this text

    mfp-sim scenario FILE… --console tcp:127.0.0.1:PORT [--testbed testbed.json]
                   [--approver 'CMD {user_code} {account}'] [--junit-xml report.xml]

The map:

    syntax    the file: steps, sections, the table of `!` actions (ACTIONS)
    expect    one reply against the expectation lines under its command
    runner    one file on one console: steps, `! within`, approvals, cleanup after a failure
    junit     the JUnit XML report
    command   the `mfp-sim scenario` command: files, options, exit status; the library
"""

from __future__ import annotations

from .command import ScenarioRun, library_dir, library_files, main, run_files
from .junit import junit_xml, write_junit
from .runner import CaseResult, RunOptions, run_scenario
from .syntax import ACTIONS, Scenario, ScenarioError, Section, Step, parse, parse_file

__all__ = [
    "ACTIONS", "CaseResult", "RunOptions", "Scenario", "ScenarioError", "ScenarioRun", "Section",
    "Step", "junit_xml", "library_dir", "library_files", "main", "parse", "parse_file",
    "run_files", "run_scenario", "write_junit",
]
