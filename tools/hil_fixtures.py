"""The pytest plugin's options, marker and fixtures (loaded through `mfp_sim.tools.hil`).

Two ways to run the same tests, chosen on the command line, never in the test file:

* **simulated** (no option): the plugin starts `mfp-sim testbed` once per session
  (`mfp_bench`) and one `mfp-sim device` per test (`mfp_device`, virtual clock, fresh memory),
  and `mfp_console` is that device's console;
* **external** (`--mfp-console ADDRESS`): `mfp_console` is the device at ADDRESS (a bench device
  on `/dev/ttyUSB0`, a simulator someone else started), approvals go to the site's approver
  (`--mfp-approver`) or to a running bench (`--mfp-testbed`); tests that need the bench's
  control API are marked `@pytest.mark.mfp_bench` and skipped when there is none, and tests
  that take `mfp_device` (a simulated device of their own) are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .bench_control import BenchControl
from .hil_console import ConsoleReply, HilError, MfpConsole
from .hil_processes import MfpProcess, start_device, start_testbed
from .site_approver import ApprovalRequest, SiteApprover

__all__ = [
    "SimulatedDevice", "mfp_account", "mfp_approve", "mfp_bench", "mfp_console", "mfp_device",
    "mfp_provider", "pytest_addoption", "pytest_configure", "pytest_runtest_setup",
]

MARKER = ("mfp_bench: needs the bench's control API (approve at the bench, revoke, faults, "
          "stats); skipped when the device under test is external (--mfp-console) and no "
          "running bench is given (--mfp-testbed)")


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("mfp-sim", "mfp-sim: the device under test (docs/hil.md)")
    group.addoption("--mfp-console", default=None, metavar="ADDRESS",
                    help="test the device at this console (tcp:HOST:PORT, socket://HOST:PORT, "
                         "/dev/pts/N, /dev/ttyUSB0) instead of simulated devices")
    group.addoption("--mfp-password", default=None,
                    help="administrator password, sent with login on connecting to --mfp-console")
    group.addoption("--mfp-timeout", type=float, default=10.0,
                    help="seconds to wait for each console reply (default 10)")
    group.addoption("--mfp-testbed", default=None, metavar="FILE",
                    help="testbed.json of a running bench to use instead of starting one")
    group.addoption("--mfp-idp-profile", default=None,
                    help="identity-provider profile of the bench the plugin starts "
                         "(entra, keycloak, google, generic; default entra)")
    group.addoption("--mfp-clock", choices=["virtual", "real"], default="virtual",
                    help="clock of the simulated devices (default virtual)")
    group.addoption("--mfp-approver", default=None, metavar="CMD",
                    help="the site's approver command for mfp_approve, e.g. "
                         "'python3 approve.py {user_code} {account} {verification_uri}'")
    group.addoption("--mfp-approver-timeout", type=float, default=120.0,
                    help="seconds the approver command may take (default 120)")
    group.addoption("--mfp-provider", default="local",
                    help="provider name the tests use (the mfp_provider fixture; default local)")
    group.addoption("--mfp-account", default="alice@example.test",
                    help="account the tests sign in with (the mfp_account fixture)")


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", MARKER)


def _bench_reachable(config: Any) -> bool:
    return bool(config.getoption("--mfp-testbed")) or not config.getoption("--mfp-console")


def pytest_runtest_setup(item: Any) -> None:
    if item.get_closest_marker("mfp_bench") and not _bench_reachable(item.config):
        pytest.skip("needs the bench's control API: the device under test is external "
                    "(--mfp-console) and no running bench was given (--mfp-testbed)")


@pytest.fixture(scope="session")
def mfp_bench(request: Any, tmp_path_factory: Any) -> Iterator[BenchControl]:
    """The bench's control API: `approve`, `deny`, `revoke`, `disable`, `fault`, `disarm`,
    `stats`, `config`, `mailbox` (docs/hil.md). A bench started for the session, or the one
    given with --mfp-testbed."""
    config = request.config
    given = config.getoption("--mfp-testbed")
    if given:
        bench = BenchControl.from_file(given, timeout=config.getoption("--mfp-timeout"))
        yield bench
        bench.close()
        return
    if config.getoption("--mfp-console"):
        pytest.skip("no bench: the device under test is external (--mfp-console); give "
                    "--mfp-testbed FILE for its bench")
    proc = start_testbed(tmp_path_factory.mktemp("mfp-bench"),
                         profile=config.getoption("--mfp-idp-profile"))
    bench = BenchControl.from_file(proc.values["testbed"], timeout=config.getoption("--mfp-timeout"))
    try:
        yield bench
    finally:
        bench.close()
        _stopped(proc, "the bench")


def _stopped(proc: MfpProcess, what: str) -> None:
    code = proc.stop()
    if code != 0:
        pytest.fail(f"{what} (mfp-sim {proc.args[0]}) exited with {code}: {proc.stderr()[-1500:]}")


@dataclass
class SimulatedDevice:
    """A `mfp-sim device` process of one test, its console attached."""

    console: MfpConsole
    address: str  # the console address the device printed
    nvram: Path
    process: MfpProcess
    bench: BenchControl

    def run(self, command: str, **kwargs: Any) -> ConsoleReply:
        return self.console.run(command, **kwargs)

    def ok(self, command: str, **kwargs: Any) -> ConsoleReply:
        return self.console.ok(command, **kwargs)


@pytest.fixture
def mfp_device(request: Any, mfp_bench: BenchControl, tmp_path: Path) -> Iterator[SimulatedDevice]:
    """A fresh `mfp-sim device` on the bench (virtual clock unless --mfp-clock real), its
    console attached; stopped after the test, which fails if the device did not stop cleanly."""
    config = request.config
    if config.getoption("--mfp-console"):
        pytest.skip("mfp_device is a simulated device; this run tests the device at "
                    "--mfp-console (use mfp_console)")
    if mfp_bench.path is None:
        pytest.skip("mfp_device needs the bench's testbed.json")
    nvram = tmp_path / "mfp-device"
    proc = start_device(nvram, testbed=mfp_bench.path, clock=config.getoption("--mfp-clock"))
    address = proc.values["console"]
    console = MfpConsole(address, timeout=config.getoption("--mfp-timeout"))
    try:
        yield SimulatedDevice(console, address, nvram, proc, mfp_bench)
    finally:
        console.close()
        _stopped(proc, "the device")


@pytest.fixture
def mfp_console(request: Any) -> Iterator[MfpConsole]:
    """The console of the device under test: --mfp-console's, else `mfp_device`'s."""
    config = request.config
    address = config.getoption("--mfp-console")
    if not address:
        yield request.getfixturevalue("mfp_device").console
        return
    with MfpConsole(address, timeout=config.getoption("--mfp-timeout"),
                    password=config.getoption("--mfp-password")) as console:
        yield console


@pytest.fixture(scope="session")
def mfp_provider(request: Any) -> str:
    """The provider name the tests set (--mfp-provider; `local`, the bench's, by default)."""
    return str(request.config.getoption("--mfp-provider"))


@pytest.fixture(scope="session")
def mfp_account(request: Any) -> str:
    """The account the tests sign in with (--mfp-account)."""
    return str(request.config.getoption("--mfp-account"))


@pytest.fixture
def mfp_approve(request: Any, mfp_console: MfpConsole) -> Callable[..., ConsoleReply]:
    """`mfp_approve(store, account=None, wait=True)`: approve the code the store is waiting
    with, through the site's approver (--mfp-approver) or the bench, then (with `wait`) let
    the device poll until the token is retrieved; returns the store's status reply."""
    config = request.config
    template = config.getoption("--mfp-approver")
    approver = (SiteApprover(template, timeout=config.getoption("--mfp-approver-timeout"))
                if template else None)
    timeout = float(config.getoption("--mfp-timeout"))

    def approve(store: str, account: str | None = None, *, wait: bool = True) -> ConsoleReply:
        status = mfp_console.ok(f"token {store} status")
        if status.values.get("state") != "waiting":
            raise HilError(f"{store} is {status.values.get('state')}, not waiting: send "
                           f"token {store} get first")
        chosen = account or status.values.get("account", "")
        wanted = ApprovalRequest(status["user_code"], chosen,
                                 status.values.get("verification_uri", ""), store)
        if approver is not None:
            approver.approve(wanted)
        else:
            bench: BenchControl = request.getfixturevalue("mfp_bench")
            bench.approve(wanted.user_code, wanted.account)
        if not wait:
            return status
        done = mfp_console.settle(store, timeout)
        if done.values.get("state") != "retrieved":
            raise HilError(f"{store} is {done.values.get('state')} after the approval, not "
                           f"retrieved: {done.values.get('reason')}")
        return done

    return approve
