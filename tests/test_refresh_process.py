"""Issue 8's refresh loop, as QA would see it: `mfp-sim testbed --idp-profile keycloak` with 30 s
access tokens and an `mfp-sim device` process, each in its own process, over the real sockets.

The device runs on its virtual clock (`--clock virtual`, moved by the console's `clock
advance`), so a minute of device time takes a second or two of real time and the test stays
fast; the bench runs on the real clock, so every token it issues is still valid when the mail is
sent. What is counted is what the identity provider saw (`GET /control/stats`), not what the
device says about itself: at most 6 refresh requests in 60 s (one per half lifetime: 4), and the
mail still goes out.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests

from mfp_sim.tools.hil import MfpConsole

from .test_processes import Proc, _start, procs  # noqa: F401 (a fixture of that module)

ALICE = "alice@example.test"
BOB = "bob@example.test"


def test_keycloak_30s_tokens_a_minute_of_device_time_at_most_6_refreshes(tmp_path: Path,
                                                                      procs: list[Proc]):  # noqa: F811 (the fixture)
    bench = _start(procs, "testbed", "--state", str(tmp_path / "bench"), "--idp-profile",
                   "keycloak", "--idp-knob", "access_token_lifetime=30")
    info = json.loads(Path(bench.values["testbed"]).read_text())
    http = requests.Session()
    http.trust_env = False
    http.verify = info["ca_file"]

    def control(method: str, path: str, body: Any = None) -> dict[str, Any]:
        answer = http.request(method, f"{info['control_url']}/{path}", json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    device = _start(procs, "device", "--nvram", str(tmp_path / "dev"), "--testbed",
                    bench.values["testbed"], "--clock", "virtual")
    with MfpConsole(device.values["console"], timeout=15) as console:
        for line in ("set smtp.provider local", f"set smtp.account {ALICE}", "set smtp.auth oauth2",
                     f"set smtp.sender_address {ALICE}"):
            console.ok(line)
        flow = console.ok("token smtp get")
        control("POST", "approve", {"user_code": flow["user_code"], "username": ALICE})
        console.ok("clock advance 5")
        assert console.ok("token smtp wait retrieved 15", timeout=20)["state"] == "retrieved"
        assert control("GET", "stats")["idp"]["token"]["by_grant_type"].get("refresh_token", 0) == 0
        for _ in range(60):  # one minute of device time, a second at a time
            console.ok("clock advance 1")
            settled = time.monotonic() + 10
            while console.ok("token smtp status").values.get("next_request_in") == "0":
                # a refresh is due or under way: let it finish before the clock moves on, as
                # it would on a real clock (an HTTPS round trip is far under a second)
                assert time.monotonic() < settled, "a refresh that never ends"
                time.sleep(0.02)
        status = console.ok("token smtp status")
        assert status["state"] == "retrieved", status
        job = console.ok(f"scan to={BOB}")["job"]
        deadline = time.monotonic() + 20
        while (state := console.ok(f"job {job}"))["state"] not in ("sent", "failed"):
            assert time.monotonic() < deadline, state
            console.ok("clock advance 1")
        assert state["state"] == "sent", state
    stats = control("GET", "stats")
    refreshes = stats["idp"]["token"]["by_grant_type"].get("refresh_token", 0)
    assert 3 <= refreshes <= 6, stats["idp"]["token"]  # about every 15 s, never in a loop
    assert stats["smtp"]["auth"]["by_result"].get("ok", 0) >= 1, stats["smtp"]
    assert device.stop() == 0 and bench.stop() == 0
