"""The real commands as QA runs them: `mfp-sim testbed` and `mfp-sim device` processes, driven
over the serial console with pyserial (through the HIL client), approval through the bench's
HTTP control API."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mfp_sim.tools.hil import MfpConsole

MFP_SIM = str(Path(sys.executable).parent / "mfp-sim")


class Proc:
    def __init__(self, args: list[str]) -> None:
        self.popen = subprocess.Popen([MFP_SIM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.values: dict[str, str] = {}

    def wait_ready(self, timeout: float = 20.0) -> dict[str, str]:
        assert self.popen.stdout is not None
        fd = self.popen.stdout.fileno()
        buf = b""
        deadline_rounds = int(timeout / 0.05)
        for _ in range(deadline_rounds):
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                buf += chunk
                for line in buf.decode().splitlines():
                    if "=" in line and not line.startswith((" ", "{", "}")):
                        k, v = line.split("=", 1)
                        self.values[k] = v
                if self.values.get("ready") == "1":
                    return self.values
        err = self.popen.stderr.read().decode() if self.popen.poll() is not None and self.popen.stderr else ""
        raise AssertionError(f"process not ready: {buf.decode()!r} {err}")

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                return self.popen.wait(timeout=10)
        return self.popen.returncode


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in reversed(started):
        p.stop()


def _start(procs: list[Proc], *args: str) -> Proc:
    p = Proc(list(args))
    procs.append(p)
    p.wait_ready()
    return p


def test_testbed_and_device_processes_over_the_tcp_console(tmp_path: Path, procs: list[Proc]):
    bench = _start(procs, "testbed", "--state", str(tmp_path / "bench"))
    info = json.loads((tmp_path / "bench" / "testbed.json").read_text())
    assert bench.values["testbed"].endswith("testbed.json")
    device = _start(procs, "device", "--nvram", str(tmp_path / "dev"), "--testbed", bench.values["testbed"],
                    "--console", "tcp:127.0.0.1:0", "--clock", "virtual")
    console_url = device.values["console"]  # as printed: tcp:127.0.0.1:N, which the tools take
    assert console_url.startswith("tcp:127.0.0.1:")
    with MfpConsole(console_url, timeout=15) as console:
        assert console.ok("set smtp.provider local").ok
        console.ok("set smtp.account alice@example.test")
        flow = console.ok("token smtp get")
        assert flow["verification_uri"] == info["verification_uri"]
        session = requests.Session()
        session.trust_env = False
        answer = session.post(f"{info['control_url']}/approve", verify=info["ca_file"], timeout=10,
                              json={"user_code": flow["user_code"], "username": "alice@example.test"})
        assert answer.status_code == 200, answer.text
        console.ok("clock advance 5")
        done = console.ok("token smtp wait retrieved 15", timeout=20)
        assert done["state"] == "retrieved" and done["label"] == "Retrieved"
        assert console.ok("token ifax_send status")["state"] == "retrieved"
        assert console.ok("token pop.ifax status")["state"] == "not_retrieved"
        bad = console.run("set smtp.port 70000")
        assert not bad.ok and "1 to 65535" in bad.error
    assert device.stop() == 0
    # Power-cycle the device process: the token comes back from NVRAM.
    again = _start(procs, "device", "--nvram", str(tmp_path / "dev"), "--testbed", bench.values["testbed"],
                   "--clock", "virtual")
    with MfpConsole("socket://" + again.values["console"].removeprefix("tcp:")) as console:
        assert console.ok("token smtp status")["state"] == "retrieved"
    assert again.stop() == 0 and bench.stop() == 0


def test_device_console_on_a_pty(tmp_path: Path, procs: list[Proc]):
    device = _start(procs, "device", "--nvram", str(tmp_path / "dev"), "--console", "pty", "--clock", "virtual")
    path = device.values["console"]  # printed as the tools open it
    assert path.startswith("/dev/pts/")
    assert path.startswith("/dev/pts/")
    with MfpConsole(path, timeout=10) as console:
        assert console.ok("clock")["kind"] == "virtual"
        assert console.ok("clock advance 60")["iso"].endswith("08:01:00Z")
        assert "unknown command" in console.run("frobnicate").error
    with MfpConsole(path, timeout=10) as console:  # a second client on the same line
        assert console.ok("get smtp.port")["smtp.port"] == "587"


def test_device_refuses_bad_arguments_clearly(tmp_path: Path):
    run = subprocess.run([MFP_SIM, "device", "--nvram", str(tmp_path), "--testbed", str(tmp_path / "none.json")],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "cannot read" in run.stderr
    run = subprocess.run([MFP_SIM, "device", "--nvram", str(tmp_path), "--console", "udp:1"],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "use tcp:HOST:PORT" in run.stderr


def test_device_takes_a_providers_file_and_extra_cas(tmp_path: Path, procs: list[Proc]):
    from mfp_sim.tools.bench_ca import BenchCA

    company_ca = BenchCA().write_ca(tmp_path / "company-ca.pem")
    providers = tmp_path / "providers.toml"
    providers.write_text('[providers.microsoft]\nclient_id = "11111111-2222-3333-4444-555555555555"\n\n'
                         '[providers.sso]\nauthority = "https://sso.example.com/realms/office"\n'
                         'client_id = "mfp"\nscopes = { smtp = ["smtp.send"] }\n'
                         '[providers.sso.presets.smtp]\nserver = "mail.example.com"\nport = 465\nsecurity = "ssl"\n')
    device = _start(procs, "device", "--nvram", str(tmp_path / "dev"), "--providers", str(providers),
                    "--ca", str(company_ca), "--clock", "virtual")
    with MfpConsole("socket://" + device.values["console"].removeprefix("tcp:")) as console:
        listed = console.ok("providers")
        assert "client_id_set:yes" in listed["microsoft"] and "sso.example.com" in listed["sso"]
        changed = console.ok("set smtp.provider sso")
        assert changed["smtp.server"] == "mail.example.com" and changed["smtp.security"] == "ssl"
    bundle = (tmp_path / "dev" / "trust" / "ca-bundle.pem").read_text()
    assert company_ca.read_text().strip() in bundle
    bad = tmp_path / "bad.toml"
    bad.write_text("[providers.x]\nauthority = 'http://plain'\n")
    run = subprocess.run([MFP_SIM, "device", "--nvram", str(tmp_path / "d2"), "--providers", str(bad)],
                         capture_output=True, text=True, timeout=30, check=False)
    assert run.returncode == 2 and "needs" in run.stderr


def test_scenario_file_against_the_processes(tmp_path: Path, procs: list[Proc]):
    bench = _start(procs, "testbed", "--state", str(tmp_path / "bench"))
    device = _start(procs, "device", "--nvram", str(tmp_path / "dev"), "--testbed", bench.values["testbed"],
                    "--clock", "virtual")
    url = device.values["console"]  # tcp:HOST:PORT, as printed
    scenario = Path(__file__).parent / "scenarios" / "get_token.scn"
    run = subprocess.run([MFP_SIM, "scenario", str(scenario), "--console", url, "--testbed", bench.values["testbed"]],
                         capture_output=True, text=True, timeout=90, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "scenario passed" in run.stdout and "ok   ! approve" in run.stdout
    failing = tmp_path / "failing.scn"
    failing.write_text("> token smtp status\nstate=retrieved\n")
    run = subprocess.run([MFP_SIM, "scenario", str(failing), "--console", url], capture_output=True,
                         text=True, timeout=60, check=False)
    assert run.returncode == 1
    assert "failing.scn:2: expected state='retrieved', got 'not_retrieved'" in run.stdout


def test_a_console_beyond_loopback_warns_and_asks_for_a_login(tmp_path: Path, procs: list[Proc]):
    device = _start(procs, "device", "--nvram", str(tmp_path / "dev"), "--console",
                    "tcp:0.0.0.0:0", "--clock", "virtual")
    address = device.values["console"]
    assert address.startswith("tcp:0.0.0.0:")
    port = address.rsplit(":", 1)[1]
    with MfpConsole(f"socket://127.0.0.1:{port}") as console:
        refused = console.run("get smtp.port")
        assert not refused.ok and refused.error.startswith("login required: this console is "
                                                           "reachable from the network")
        assert console.ok("login admin")["login"] == "ok"
        assert console.ok("get smtp.port")["smtp.port"] == "587"
    with MfpConsole(address, password="admin") as console:  # the printed address, logged in
        assert console.ok("clock")["kind"] == "virtual"
    device.stop()
    assert device.popen.stderr is not None
    warning = device.popen.stderr.read().decode()
    assert "warning: the console on 0.0.0.0 is reachable beyond this machine" in warning
    # The web page beyond loopback: HTTPS only, with the same kind of warning.
    web = _start(procs, "device", "--nvram", str(tmp_path / "d2"), "--web", "tcp:0.0.0.0:0")
    assert web.values["web"].startswith("https://")
    web.stop()
    assert web.popen.stderr is not None
    assert "web page on 0.0.0.0 is reachable beyond this machine" in web.popen.stderr.read().decode()
