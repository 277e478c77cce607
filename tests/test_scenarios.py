"""The scenario runner and its library against real `mfp-sim testbed` and `mfp-sim device`
processes (one of each for the module, virtual clock), as a QA team runs them.

The library runs twice in a row on the same device, through the command line, and its JUnit XML
is read back with junitparser as a CI system reads it. The runner's own behaviour (reports of a
failure, cleanup, approvals through a site's command or a person, skips) is checked through
`run_files`, the function the command calls.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from mfp_sim.tools.bench_control import BenchControl, BenchControlError
from mfp_sim.tools.hil import MfpConsole
from mfp_sim.tools.hil_processes import MfpProcess, mfp_sim_command, start_device, start_testbed
from mfp_sim.tools.scenario import ScenarioRun, library_dir, library_files, parse_file, run_files
from mfp_sim.tools.scenario.junit import write_junit

ROOT = Path(__file__).resolve().parent.parent


class Pair:
    def __init__(self, bench: MfpProcess, device: MfpProcess) -> None:
        self.bench_proc, self.device_proc = bench, device
        self.testbed = bench.values["testbed"]
        self.console = device.values["console"]
        self.control = BenchControl.from_file(self.testbed)

    def run(self, tmp: Path, text: str, **options: Any) -> tuple[list[str], list[Any]]:
        path = tmp / options.pop("name", "s.scn")
        path.write_text(text)
        log: list[str] = []
        prompt = options.pop("prompt", log.append)
        run = ScenarioRun([str(path)], self.console, options.pop("testbed", self.testbed),
                          **options)
        results = run_files(run, log=log.append, prompt=prompt)
        return log, results[0][1]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("scenarios")
    bench = start_testbed(root / "bench")
    try:
        device = start_device(root / "device", testbed=Path(bench.values["testbed"]))
    except BaseException:
        bench.stop()
        raise
    together = Pair(bench, device)
    yield together
    together.control.close()
    assert device.stop() == 0, device.stderr()
    assert bench.stop() == 0, bench.stderr()


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*mfp_sim_command(), "scenario", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def _problems(report: Path) -> list[str]:
    found = []
    for suite in JUnitXml.fromfile(str(report)):
        for case in suite:
            for result in case.result:
                if isinstance(result, (Failure, Error, Skipped)):
                    found.append(f"{suite.name} / {case.name}: {result.message}\n{result.text}")
    return found


def test_the_library_passes_twice_in_a_row_on_the_same_device(pair: Pair, tmp_path: Path):
    files = library_files()
    sections = {f.stem: [s.title for s in parse_file(f).sections] for f in files}
    for run in (1, 2):
        report = tmp_path / f"library-{run}.xml"
        done = _cli("--library", "--console", pair.console, "--testbed", pair.testbed,
                    "--junit-xml", str(report))
        assert done.returncode == 0, f"run {run}:\n" + "\n".join(_problems(report)) + done.stdout[-3000:]
        xml = JUnitXml.fromfile(str(report))
        got = {suite.name: [case.name for case in suite] for suite in xml}
        assert got == sections  # one testcase per section, every file, nothing left out
        assert xml.failures == xml.errors == xml.skipped == 0 and _problems(report) == []
        assert xml.tests == sum(len(v) for v in sections.values())


def test_the_library_has_one_home_and_the_docs_list_every_file():
    assert (ROOT / "tests" / "scenarios").resolve() == library_dir().resolve()
    names = {p.name for p in library_files()}
    assert {"tokens.scn", "settings.scn", "send.scn", "mail_paths.scn", "faults_refresh.scn",
            "faults_sign_in.scn", "faults_mail.scn", "get_token.scn"} <= names
    table = (ROOT / "docs" / "hil.md").read_text()
    assert names == set(re.findall(r"^\| `([a-z_]+\.scn)` \|", table, re.M))
    listed = _cli("--list")
    assert listed.returncode == 0 and {Path(p).name for p in listed.stdout.split()} == names


def test_the_library_tries_every_entry_of_the_fault_catalogue():
    """A QA team copies the library to see every way a provider or a mail server says no: each
    catalogue entry is armed (`! fault NAME`) in at least one section."""
    from mfp_sim.tools.idp.faults import CATALOGUE as IDP_FAULTS
    from mfp_sim.tools.mailserver.faults import CATALOGUE as MAIL_FAULTS

    armed = {m for p in library_files()
             for m in re.findall(r"^! fault (\w+)", p.read_text(), re.M)}
    catalogue = {e.name for e in (*IDP_FAULTS, *MAIL_FAULTS)}
    assert catalogue - armed == set()


FAILING = """! default account alice@example.test
! reset
## Get Token
> set smtp.auth oauth2
> set smtp.account {account}
> token smtp get
! fault throttled count=5 phases=idp.refresh
> network down
## The code is approved at once
> token smtp status
state=retrieved
## Never reached
> stores
"""


def test_a_failure_is_reported_with_line_command_and_reply_and_the_device_is_cleaned_up(
        pair: Pair, tmp_path: Path):
    log, cases = pair.run(tmp_path, FAILING, name="failing.scn")
    assert [(c.name, c.status) for c in cases] == [
        ("setup", "passed"), ("Get Token", "passed"),
        ("The code is approved at once", "failed"), ("Never reached", "skipped")]
    failed = cases[2]
    assert failed.message == f"{tmp_path}/failing.scn:11: expected state='retrieved', got 'waiting'"
    assert failed.detail.startswith("> token smtp status\nstore=smtp\nstate=waiting\n")
    assert "\nOK\n" in failed.detail
    assert cases[3].message.startswith("not run: section 'The code is approved at once' failed at")
    assert "     cleanup: token smtp clear (if still waiting)" in log
    assert "     cleanup: network up" in log and "     cleanup: disarm throttled" in log
    with MfpConsole(pair.console) as console:
        assert console.ok("token smtp status")["state"] == "not_retrieved"
        assert console.ok("network")["network"] == "up"
    assert all(not f["armed"] for f in pair.control.faults())
    # The same as CI reads it.
    report = tmp_path / "report.xml"
    write_junit(report, [("failing.scn", cases)])
    xml = JUnitXml.fromfile(str(report))
    assert (xml.tests, xml.failures, xml.skipped, xml.errors) == (4, 1, 1, 0)
    suite = next(iter(xml))
    case = next(c for c in suite if c.name == "The code is approved at once")
    assert case.classname == "scenario.failing"
    [failure] = case.result
    assert isinstance(failure, Failure) and "failing.scn:11" in failure.message
    assert "state=waiting" in failure.text and "> token smtp status" in failure.text
    assert "FAIL > token smtp status" in case.system_out


def test_the_command_exits_1_on_a_failure_and_2_when_a_file_cannot_run(pair: Pair, tmp_path: Path):
    bad = tmp_path / "bad.scn"
    bad.write_text("> clock\n! frobnicate\n")
    failing = tmp_path / "failing.scn"
    failing.write_text("> token smtp status\nstate=retrieved\n")
    report = tmp_path / "r.xml"
    done = _cli(str(failing), "--console", pair.console, "--junit-xml", str(report))
    assert done.returncode == 1
    assert "failing.scn:2: expected state='retrieved', got 'not_retrieved'" in done.stdout
    done = _cli(str(bad), str(failing), "--console", pair.console, "--junit-xml", str(report))
    assert done.returncode == 2 and "bad.scn:2: unknown bench action" in done.stdout
    xml = JUnitXml.fromfile(str(report))
    assert (xml.tests, xml.errors, xml.failures) == (2, 1, 1)
    done = _cli(str(failing), "--console", pair.console, "--var", "novalue")
    assert done.returncode == 2 and "--var 'novalue': use NAME=VALUE" in done.stderr


def test_bench_steps_are_skipped_without_a_bench(pair: Pair, tmp_path: Path):
    log, cases = pair.run(tmp_path, "## revoke\n! revoke alice@example.test\n> stores\n",
                          testbed=None)
    assert [c.status for c in cases] == ["skipped"]
    assert "needs the bench's control API" in cases[0].message and ":2: ! revoke" in cases[0].message
    log, cases = pair.run(tmp_path, "> set smtp.auth oauth2\n> set smtp.account a@b.test\n"
                          "> token smtp get\n! approve smtp\n", testbed=None)
    assert cases[0].status == "error"
    assert "'! approve' needs a way to approve" in cases[0].message
    assert "     cleanup: token smtp clear (if still waiting)" in log


def _approver_script(tmp_path: Path, body: str) -> str:
    script = tmp_path / "approver.py"
    script.write_text(body)
    return f"{sys.executable} {script} {{user_code}} {{account}} {{verification_uri}}"


APPROVE_WITH = """! default account alice@example.test
! reset
> set smtp.auth oauth2
> set smtp.account {account}
> token smtp get
! approve smtp
> token smtp status
state=retrieved
"""


def test_the_sites_own_approver_is_called_with_the_code(pair: Pair, tmp_path: Path):
    seen = tmp_path / "seen.txt"
    command = _approver_script(tmp_path, f"""import sys
from mfp_sim.tools.bench_control import BenchControl
open({str(seen)!r}, "w").write(" ".join(sys.argv[1:]))
BenchControl.from_file({pair.testbed!r}).approve(sys.argv[1], sys.argv[2])
print("approved in the browser")
""")
    log, cases = pair.run(tmp_path, APPROVE_WITH, testbed=None, approver=command)
    assert [c.status for c in cases] == ["passed"], log
    code, account, uri = seen.read_text().split()
    assert re.fullmatch(r"[A-Z0-9]{9}", code) and account == "alice@example.test"
    assert uri.endswith("/devicelogin")
    assert any("approver: approved in the browser; smtp is retrieved" in line for line in log)


@pytest.mark.parametrize("body, options, words", [
    ("import sys\nprint('policy says no', file=sys.stderr)\nsys.exit(3)\n", {},
     r":6: the approver refused [A-Z0-9]{9} for alice@example\.test \(exit status 3\): "
     r"policy says no$"),
    ("import time\ntime.sleep(30)\n", {"approver_timeout": 0.5},
     r":6: the approver did not finish within 0\.5 s"),
])
def test_an_approver_that_refuses_or_hangs_fails_the_step(pair: Pair, tmp_path: Path, body: str,
                                                         options: dict[str, Any], words: str):
    command = _approver_script(tmp_path, body)
    log, cases = pair.run(tmp_path, APPROVE_WITH, testbed=None, approver=command, **options)
    assert cases[0].status == "failed"
    assert re.search(words, cases[0].message), cases[0].message
    assert "     cleanup: token smtp clear (if still waiting)" in log
    with MfpConsole(pair.console) as console:
        assert console.ok("token smtp status")["state"] == "not_retrieved"


def test_wait_approval_shows_the_code_and_waits_for_a_person(pair: Pair, tmp_path: Path):
    shown: list[str] = []

    def person(text: str) -> None:  # reads the code off the prompt and approves it
        shown.append(text)
        code = re.search(r"enter the code (\S+) \(account (\S+)\)", text)
        assert code is not None, text
        pair.control.approve(code.group(1), code.group(2))

    text = APPROVE_WITH.replace("! approve smtp", "! wait-approval smtp 30")
    log, cases = pair.run(tmp_path, text, prompt=person)
    assert [c.status for c in cases] == ["passed"], log
    assert "/devicelogin and enter the code" in shown[0] and "waiting up to 30 s" in shown[0]
    log, cases = pair.run(tmp_path, text.replace("smtp 30", "smtp 0.5"), prompt=lambda t: None)
    assert cases[0].status == "failed" and "nobody approved" in cases[0].message
    with MfpConsole(pair.console) as console:  # cleaned up: not left waiting
        assert console.ok("token smtp status")["state"] == "not_retrieved"


def test_variables_and_within(pair: Pair, tmp_path: Path):
    text = """! default name "Front Desk"
> set device.name {name}
device.name={name}
! within 0.3
> get device.name
device.name=never
"""
    log, cases = pair.run(tmp_path, text.replace('"Front Desk"', "Lobby"), variables={"name": "Hall"})
    assert cases[0].status == "failed"
    assert cases[0].message.endswith("expected device.name='never', got 'Hall' (repeated for 0.3 s)")
    assert sum(1 for line in log if line == "ok   > set device.name Hall") == 1


def test_the_bench_client_is_not_fooled_by_the_environment(pair: Pair, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path):
    other = tmp_path / "other-ca.pem"
    from mfp_sim.tools.bench_ca import BenchCA

    BenchCA().write_ca(other)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))  # another CA: requests would use it
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other))
    bench = BenchControl.from_file(pair.testbed)
    assert isinstance(bench.pending(), list)
    with pytest.raises(BenchControlError) as refused:
        bench.fault("no_such_fault")
    assert refused.value.status == 404 and refused.value.error == "unknown_fault"
    assert "token_revoked" in str(refused.value)


def test_what_the_device_sends_is_in_the_benchs_mailbox(pair: Pair, tmp_path: Path):
    before = pair.control.mailbox("carol@example.test")
    text = APPROVE_WITH + ("> set smtp.provider local\n> set smtp.sender_address alice@example.test\n"
                           "> scan to=Carol@Example.test pages=1\n"
                           "! within 20\n> job {job}\nstate=sent\nmessage_id=~^<mfp\\.\n")
    _log, cases = pair.run(tmp_path, text)
    assert [c.status for c in cases] == ["passed"], cases[0].detail
    after = pair.control.mailbox("carol@example.test")
    assert len(after) == len(before) + 1
    assert after[-1]["Subject"] == "Scanned image from MFP"
    assert after[-1]["From"] == "MFP-SIM <alice@example.test>"
    assert pair.control.mailbox("nobody@example.test") == []
