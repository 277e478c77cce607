"""Running one parsed scenario file on a device's console: steps, sections, cleanup.

Steps run in order; the first one that fails ends the file: its section is reported failed
(with the file's line, the command and the whole reply), the sections after it are reported
skipped, and the runner clears what the file started, so the device is not left half-way:

* a token store it sent `token <store> get` for and that is still Waiting is cleared;
* faults it armed at the bench are disarmed, accounts it disabled are enabled again;
* a network link it pulled (`network down`) is plugged back.

Failures are what the device did wrong (or did not do in time); errors are what kept the file
from running (a variable never given, the bench refusing an action, a lost connection).
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mfp_sim.tools.bench_control import BenchControl, BenchControlError
from mfp_sim.tools.hil_console import ConsoleReply, HilError, HilTimeout, MfpConsole
from mfp_sim.tools.site_approver import ApprovalRequest, ApproverError, SiteApprover

from .expect import check_reply, fill
from .syntax import STORE_NAMES, Scenario, ScenarioError, Step

__all__ = ["CaseResult", "RunOptions", "run_scenario"]

#: How often `! within` repeats its command (s): a console command costs about a millisecond.
REPEAT = 0.05
#: How often `! wait-approval` looks at the store (s).
POLL = 0.25


@dataclass
class RunOptions:
    """What a run may use besides the device's console."""

    bench: BenchControl | None = None
    approver: SiteApprover | None = None
    variables: dict[str, str] = field(default_factory=dict)  # --var, before any default
    timeout: float = 15.0  # seconds for each reply
    log: Callable[[str], None] = print
    prompt: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)


@dataclass
class CaseResult:
    """One testcase of the report: a section of a file (or the whole file)."""

    file: str
    name: str
    line: int
    status: str = "passed"  # passed, failed, error, skipped
    message: str = ""
    detail: str = ""
    seconds: float = 0.0
    output: list[str] = field(default_factory=list)


class StepFailed(Exception):
    """The device did not do what the step expects."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def _reply_text(reply: ConsoleReply) -> list[str]:
    return reply.lines + ["OK" if reply.ok else f"ERR {reply.error}"]


def _budget(command: str, timeout: float) -> float:
    """How long a command's reply may take: `token … wait S N` and `mail check` wait on the
    device side first."""
    words = command.split()
    if len(words) >= 4 and words[0] == "token" and words[2] == "wait":
        seconds = words[4] if len(words) > 4 else "30"
        try:
            return timeout + float(seconds)
        except ValueError:
            return timeout
    if words[:2] == ["mail", "check"]:
        return timeout + 120.0
    return timeout


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class _FileRun:
    def __init__(self, scenario: Scenario, console: MfpConsole, options: RunOptions) -> None:
        self.scenario = scenario
        self.console = console
        self.options = options
        self.variables: dict[str, str] = dict(_bench_variables(options.bench))
        self.variables.update(options.variables)
        # --var, `! default` and the bench's values are fixed: a reply's `account=` (say) never
        # replaces the account the file was given.
        self.fixed: set[str] = set(self.variables)
        self.case: CaseResult | None = None
        self.cases: list[CaseResult] = []
        # what the file started, for the cleanup after a failure
        self.stores: list[str] = []
        self.faults: list[str] = []
        self.disabled: list[str] = []
        self.network_down = False

    # ------------------------------------------------------------------ output
    def log(self, text: str) -> None:
        self.options.log(text)
        if self.case is not None:
            self.case.output.append(text)

    def _open_case(self, index: int) -> None:
        section = self.scenario.sections[index]
        self.case = CaseResult(self.scenario.path, section.title, section.line_no)
        self.cases.append(self.case)
        if len(self.scenario.sections) > 1:
            self.log(f"-- {section.title}")

    # ------------------------------------------------------------------ the run
    def run(self) -> list[CaseResult]:
        current = -1
        started = time.monotonic()
        for step in self.scenario.steps:
            if step.section != current:
                if self.case is not None:
                    self.case.seconds = time.monotonic() - started
                started, current = time.monotonic(), step.section
                self._open_case(current)
            try:
                self._step(step)
            except StepFailed as exc:
                self._end(started, "failed", str(exc), exc.detail)
                return self.cases
            except HilTimeout as exc:  # the device did not answer in time: its fault
                message = f"{self.scenario.path}:{step.line_no}: {exc}"
                self.log(f"FAIL {message}")
                self._end(started, "failed", message, "")
                return self.cases
            except (ScenarioError, BenchControlError, ApproverError, HilError, OSError) as exc:
                where = f"{self.scenario.path}:{step.line_no}"
                message = str(exc) if str(exc).startswith(self.scenario.path) else f"{where}: {exc}"
                self.log(f"ERROR {message}")
                self._end(started, "error", message, "")
                return self.cases
        if self.case is not None:
            self.case.seconds = time.monotonic() - started
        return self.cases

    def _end(self, started: float, status: str, message: str, detail: str) -> None:
        assert self.case is not None
        self.case.status, self.case.message, self.case.detail = status, message, detail
        self._cleanup()
        self.case.seconds = time.monotonic() - started
        failed = self.case
        for section in self.scenario.sections[failed_index(self.scenario, failed) + 1:]:
            self.cases.append(CaseResult(
                self.scenario.path, section.title, section.line_no, "skipped",
                f"not run: section {failed.name!r} {status} at {message.split(': ')[0]}"))

    def _step(self, step: Step) -> None:
        where = f"{self.scenario.path}:{step.line_no}"
        text = fill(step.text, self.variables, where)
        if step.kind == "action":
            note = self._action(text, where)
            self.log(f"ok   ! {text}" + (f"  ({note})" if note else ""))
            return
        self._track(text)
        deadline = time.monotonic() + (step.within or 0.0)
        while True:
            reply = self.console.run(text, timeout=_budget(text, self.options.timeout))
            failures = check_reply(reply, step.expects, self.scenario.path, self.variables,
                                   step.line_no)
            if not failures or time.monotonic() >= deadline:
                break
            time.sleep(REPEAT)
        self.variables.update((k, v) for k, v in reply.values.items() if k not in self.fixed)
        if failures:
            self.log(f"FAIL > {text}")
            for failure in failures:
                self.log(f"     {failure}")
            for line in _reply_text(reply):
                self.log(f"     | {line}")
            within = f" (repeated for {step.within:g} s)" if step.within else ""
            raise StepFailed(failures[0] + within,
                             "\n".join([f"> {text}", *_reply_text(reply), "", *failures]))
        self.log(f"ok   > {text}")

    def _track(self, command: str) -> None:
        words = command.split()
        if len(words) >= 3 and words[0] == "token" and words[2] == "get":
            self.stores.append(words[1])
        if words[:2] == ["network", "down"]:
            self.network_down = True
        elif words[:2] == ["network", "up"]:
            self.network_down = False

    # ------------------------------------------------------------------ actions
    def _action(self, text: str, where: str) -> str:
        verb, *args = text.split()
        if verb == "default":
            name, value = args[0], text.split(None, 2)[2]
            self.variables.setdefault(name, value)
            self.fixed.add(name)
            return f"{{{name}}} = {self.variables[name]}"
        if verb == "reset":
            return self._reset()
        if verb == "approve":
            return self._approve(args, where)
        if verb == "wait-approval":
            return self._wait_approval(args[0], args[1], where)
        bench = self.options.bench
        if bench is None:
            raise ScenarioError(f"{where}: '! {verb}' needs the bench's control API: "
                                "give --testbed testbed.json")
        if verb == "deny":
            code = self._request(args[0]).user_code if args[0] in STORE_NAMES else args[0]
            bench.deny(code)
        elif verb == "revoke":
            return f"{bench.revoke(args[0]).get('grants', 0)} grant(s) ended"
        elif verb == "disable":
            bench.disable(args[0])
            self.disabled.append(args[0])
        elif verb == "enable":
            bench.enable(args[0])
            self.disabled = [u for u in self.disabled if u != args[0]]
        elif verb == "slow_down":
            bench.slow_down(int(args[0]) if args[0].isdigit() else args[0])  # type: ignore[arg-type]
        elif verb == "fault":
            fields = dict(_fault_field(a) for a in args[1:])
            bench.fault(args[0], **fields)
            self.faults.append(args[0])
        elif verb == "disarm":
            self.faults = [f for f in self.faults if args and f != args[0]]
            return f"{bench.disarm(args[0] if args else None)} disarmed"
        elif verb == "config":
            bench.config(**{k: _json_or_text(v) for k, v in (a.split("=", 1) for a in args)})
        return ""

    def _reset(self) -> str:
        reply = self.console.run("factory-reset yes", timeout=self.options.timeout)
        if not reply.ok:
            raise StepFailed(f"factory-reset yes: ERR {reply.error}",
                             "\n".join(["> factory-reset yes", *_reply_text(reply)]))
        self.console.run("network up", timeout=self.options.timeout)
        note = f"factory-reset: {reply.values.get('records_deleted', '?')} record(s) deleted"
        if self.options.bench is not None:
            note += f"; {self.options.bench.disarm()} fault(s) disarmed at the bench"
        return note

    def _request(self, store: str) -> ApprovalRequest:
        """What the panel shows for a Waiting store: the code, the page, the account."""
        reply = self.console.run(f"token {store} status", timeout=self.options.timeout)
        state = reply.values.get("state", "")
        if not reply.ok or state != "waiting":
            got = f"ERR {reply.error}" if not reply.ok else f"{state} ({reply.values.get('reason', '')})"
            raise StepFailed(f"{store} is not waiting for authorization, so there is no code to "
                             f"approve: token {store} status gave {got}; send token {store} get "
                             "first", "\n".join([f"> token {store} status", *_reply_text(reply)]))
        if store not in self.stores:
            self.stores.append(store)
        return ApprovalRequest(reply.values.get("user_code", ""), reply.values.get("account", ""),
                               reply.values.get("verification_uri", ""), store)

    def _approve(self, args: list[str], where: str) -> str:
        """`approve STORE`: approve what the store shows, then let the device poll until the
        store is no longer Waiting. `approve CODE ACCOUNT` (the older form): approve only."""
        if len(args) == 1:
            request = self._request(args[0])
            said = self._approve_request(request, where)
            done = self.console.settle(args[0], self.options.timeout)
            state = done.values.get("state", "")
            return f"{said}; {args[0]} is {state}" + (
                f" ({done.values.get('reason')})" if done.values.get("reason") else "")
        return self._approve_request(
            ApprovalRequest(args[0], args[1], self.variables.get("verification_uri", "")), where)

    def _approve_request(self, request: ApprovalRequest, where: str) -> str:
        if self.options.approver is not None:
            try:
                said = self.options.approver.approve(request)
            except ApproverError as exc:
                raise StepFailed(f"{where}: {exc}") from None
            return f"approver: {said}" if said else "approved by the site's approver"
        if self.options.bench is not None:
            try:
                self.options.bench.approve(request.user_code, request.account)
            except BenchControlError as exc:
                raise StepFailed(f"{where}: {exc}") from None
            return f"{request.user_code} approved at the bench for {request.account}"
        raise ScenarioError(f"{where}: '! approve' needs a way to approve: the bench "
                            "(--testbed testbed.json) or the site's approver "
                            "(--approver 'CMD {user_code} {account}'); or write "
                            "'! wait-approval STORE SECONDS' and approve it yourself")

    def _wait_approval(self, store: str, seconds_text: str, where: str) -> str:
        try:
            seconds = float(seconds_text)
        except ValueError:
            raise ScenarioError(f"{where}: wait-approval: {seconds_text!r} is not a number of "
                                "seconds") from None
        request = self._request(store)
        self.options.prompt(
            f"{where}: approve the sign-in for {store}: open {request.verification_uri} and "
            f"enter the code {request.user_code} (account {request.account}); waiting up to "
            f"{seconds:g} s")
        virtual = self.console.run("clock", timeout=self.options.timeout).values.get("kind") == "virtual"
        start = last = time.monotonic()
        while True:
            reply = self.console.run(f"token {store} status", timeout=self.options.timeout)
            state = reply.values.get("state", "")
            if state == "retrieved":
                return f"approved after {time.monotonic() - start:.0f} s"
            if state != "waiting":
                raise StepFailed(f"{where}: {store} became {state or 'unknown'} while waiting for "
                                 f"the approval: {reply.values.get('reason', reply.error)}",
                                 "\n".join([f"> token {store} status", *_reply_text(reply)]))
            if time.monotonic() - start > seconds:
                raise StepFailed(f"{where}: nobody approved {request.user_code} within "
                                 f"{seconds:g} s")
            time.sleep(POLL)
            if virtual:  # the device's clock follows real time while a person approves
                now = time.monotonic()
                self.console.ok(f"clock advance {now - last:.3f}", timeout=self.options.timeout)
                last = now

    # ------------------------------------------------------------------ cleanup
    def _cleanup(self) -> None:
        """Clear what the file started; every step of it is logged, and none can fail the run."""
        actions: list[tuple[str, Callable[[], Any]]] = []
        for store in dict.fromkeys(self.stores):
            actions.append((f"token {store} clear (if still waiting)",
                            functools.partial(self._clear_if_waiting, store)))
        if self.network_down:
            actions.append(("network up", lambda: self.console.ok("network up")))
        bench = self.options.bench
        if bench is not None:
            for name in dict.fromkeys(self.faults):
                actions.append((f"disarm {name}", functools.partial(bench.disarm, name)))
            for user in dict.fromkeys(self.disabled):
                actions.append((f"enable {user}", functools.partial(bench.enable, user)))
        for what, do in actions:
            try:
                done = do()
            except (HilError, BenchControlError, OSError) as exc:
                self.log(f"     cleanup: {what}: could not: {exc}")
                continue
            if done is not False:
                self.log(f"     cleanup: {what}")

    def _clear_if_waiting(self, store: str) -> bool:
        status = self.console.run(f"token {store} status", timeout=self.options.timeout)
        if status.values.get("state") != "waiting":
            return False
        self.console.ok(f"token {store} clear", timeout=self.options.timeout)
        return True


def failed_index(scenario: Scenario, case: CaseResult) -> int:
    return next(i for i, s in enumerate(scenario.sections)
                if s.title == case.name and s.line_no == case.line)


def _fault_field(word: str) -> tuple[str, Any]:
    key, value = word.split("=", 1)
    if key == "phases":
        return key, [p for p in value.split(",") if p]
    if key == "username":
        return key, value
    return key, _json_or_text(value)


def _bench_variables(bench: BenchControl | None) -> Mapping[str, str]:
    """`{bench.port.smtp}` and the like: a bench's ports, for files that need a raw port."""
    if bench is None:
        return {}
    ports = bench.info.get("ports", {})
    return {f"bench.port.{name}": str(port) for name, port in ports.items()}


def run_scenario(scenario: Scenario, console: MfpConsole, options: RunOptions) -> list[CaseResult]:
    """Run every step of one file; one result per section (or one for the whole file)."""
    return _FileRun(scenario, console, options).run()

