"""A newcomer follows docs/hil.md alone: the pytest file, the scenario, the approver script and
the providers file are taken from the page as written, and run the way it says, with JUnit XML
read back as CI reads it (junitparser):

* against the bench: the plugin starts its own bench and devices; the scenario runs on a
  `mfp-sim testbed` + `mfp-sim device` pair; the same pytest file against that external device;
* against another provider: a second bench with the keycloak profile stands in for the company's
  identity provider, a device knows it only through a providers file and its CA (no
  `--testbed`), and the docs' approver script approves through that bench's control API; the
  library's files that need no bench run there too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from junitparser import JUnitXml, Skipped

from mfp_sim.tools.bench_control import BenchControl
from mfp_sim.tools.hil_processes import mfp_sim_command, start_device, start_testbed
from mfp_sim.tools.scenario import library_dir

DOC = (Path(__file__).resolve().parent.parent / "docs" / "hil.md").read_text()


def from_docs(name: str) -> str:
    """The fenced block of docs/hil.md whose first line is `# name`."""
    for block in re.findall(r"```[a-z]*\n(.*?)```", DOC, re.S):
        if block.startswith(f"# {name}\n"):
            return str(block)
    raise AssertionError(f"docs/hil.md has no block starting with '# {name}'")


def pytest_run(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], JUnitXml]:
    report = folder / "report.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           "test_mfp.py", "--junit-xml", str(report), *args],
                          cwd=folder, capture_output=True, text=True, timeout=120, check=False)
    return done, JUnitXml.fromfile(str(report))


def scenario_run(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], JUnitXml]:
    report = folder / "scenario.xml"
    done = subprocess.run([*mfp_sim_command(), "scenario", "my.scn", *args,
                           "--junit-xml", str(report)],
                          cwd=folder, capture_output=True, text=True, timeout=120, check=False)
    return done, JUnitXml.fromfile(str(report))


def outcomes(xml: JUnitXml) -> dict[str, str]:
    return {case.name: ("passed" if case.is_passed else
                        "skipped" if case.is_skipped else "failed")
            for suite in xml for case in suite}


def write_newcomer_files(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test_mfp.py").write_text(from_docs("test_mfp.py"))
    (folder / "my.scn").write_text(from_docs("my.scn"))
    (folder / "approve.py").write_text(from_docs("approve.py"))


def test_against_the_bench(tmp_path: Path):
    write_newcomer_files(tmp_path)
    # 1. pytest alone: the plugin brings the bench and a device per test.
    done, xml = pytest_run(tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert outcomes(xml) == {"test_every_smtp_function_shares_the_token": "passed",
                             "test_a_revoked_token_turns_invalid": "passed"}
    # 2. A bench and a device started by hand, the scenario and the pytest file against them.
    bench = start_testbed(tmp_path / "bench")
    try:
        device = start_device(tmp_path / "device", testbed=Path(bench.values["testbed"]))
        try:
            console, testbed = device.values["console"], bench.values["testbed"]
            done, xml = scenario_run(tmp_path, "--console", console, "--testbed", testbed)
            assert done.returncode == 0, done.stdout
            assert outcomes(xml) == {"setup": "passed",
                                     "Get Token from the Scan to E-mail screen": "passed",
                                     "Every SMTP function shares the token": "passed"}
            done, xml = pytest_run(tmp_path, "--mfp-console", console, "--mfp-testbed", testbed)
            assert done.returncode == 0, done.stdout[-3000:]
            assert outcomes(xml) == {"test_every_smtp_function_shares_the_token": "passed",
                                     "test_a_revoked_token_turns_invalid": "skipped"}
        finally:
            assert device.stop() == 0
    finally:
        assert bench.stop() == 0


def test_against_another_provider_with_the_sites_approver(tmp_path: Path):
    write_newcomer_files(tmp_path)
    company = start_testbed(tmp_path / "company", profile="keycloak")
    try:
        info = json.loads((tmp_path / "company" / "testbed.json").read_text())
        providers = (from_docs("company.toml").replace('"ISSUER"', json.dumps(info["issuer"]))
                     .replace("SMTP_PORT", str(info["ports"]["smtp"]))
                     .replace("POP3S_PORT", str(info["ports"]["pop3s"])))
        (tmp_path / "company.toml").write_text(providers)
        device = start_device(tmp_path / "qa-dev", providers=tmp_path / "company.toml",
                              cas=(Path(info["ca_file"]),))
        try:
            approver = (f"{sys.executable} approve.py {{user_code}} {{account}} "
                        f"{tmp_path / 'company' / 'testbed.json'}")
            console = device.values["console"]
            done, xml = pytest_run(tmp_path, "--mfp-console", console, "--mfp-provider", "company",
                                   "--mfp-account", "alice@example.test",
                                   "--mfp-approver", approver)
            assert done.returncode == 0, done.stdout[-3000:]
            assert outcomes(xml) == {"test_every_smtp_function_shares_the_token": "passed",
                                     "test_a_revoked_token_turns_invalid": "skipped"}
            skipped = [r for s in xml for c in s for r in c.result if isinstance(r, Skipped)]
            assert "needs the bench's control API" in skipped[0].message
            done, xml = scenario_run(tmp_path, "--console", console, "--var", "provider=company",
                                     "--approver", approver)
            assert done.returncode == 0, done.stdout
            assert set(outcomes(xml).values()) == {"passed"} and len(outcomes(xml)) == 3
            assert "approver: approved " in done.stdout
            # The library's files that need no bench run against this provider as well.
            portable = [str(library_dir() / f) for f in
                        ("tokens.scn", "settings.scn", "send.scn", "mail_paths.scn")]
            done = subprocess.run([*mfp_sim_command(), "scenario", *portable, "--console",
                                   console, "--var", "provider=company", "--approver", approver],
                                  cwd=tmp_path, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout[-3000:]
        finally:
            assert device.stop() == 0
        # The company's provider did the work: the device-code grants were approved through
        # the approver, and the device signed in to its mail server with its tokens.
        stats = BenchControl.from_file(tmp_path / "company" / "testbed.json").stats()
        assert stats["idp"]["token"]["by_user"]["alice@example.test"]["device_code"] >= 2
        assert stats["smtp"]["auth"]["by_user"]["alice@example.test"]["XOAUTH2"] >= 1
    finally:
        assert company.stop() == 0
