"""A fleet of 50 real devices against the bench, on the virtual clock: tokens, mail, a power
cut and a throttling fault; every device ends as expected, the report's counts are the bench's
(`/control/stats`), and the same fleet split over two Ray actors counts the same.

The bench runs in the test's event loop on its virtual clock; shards in this process share
that clock, Ray actors keep their own, moved in step by the coordinator.
"""

from __future__ import annotations

import json
import mailbox
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.fleet.coordinator import Fleet, FleetPlan, FleetRun
from mfp_sim.tools.fleet.metrics import Histogram
from mfp_sim.tools.fleet.profile import FleetProfile
from mfp_sim.tools.fleet.report import write_report
from mfp_sim.tools.fleet.timeline import PowerCut, Timeline
from mfp_sim.tools.testbed import Testbed

DEVICES = 50
PROFILE = FleetProfile.from_dict({
    "mail": {"scan_rate": 4.0, "fax_rate": 4.0, "pop_check_interval": 3},
    "fleet": {"sites": 5, "seed": 7},
}, "test profile")
# Tokens live 600 s, so every store refreshes at 300 s: inside the throttling window.
EVENTS = Timeline.parse("""
power_cut at=1m fraction=0.3 for=1m
idp_fault throttled at=4m for=3m retry_after=1 phases=idp.refresh
poll_round at=ready+20s
""", "test events")
DURATION = 11 * 60.0


def plan(root: Path, bench: Testbed, processes: int = 1, devices: int = DEVICES) -> FleetPlan:
    return FleetPlan(devices=devices, root=root, profile=PROFILE, timeline=EVENTS,
                     clock="virtual", duration=DURATION, testbed=bench.info(),
                     processes=processes, tick=10.0, sample_every=30.0, workers=8,
                     bench_knobs={"access_token_lifetime": 600})


async def run_fleet(root: Path, processes: int = 1,
                    devices: int = DEVICES) -> tuple[FleetRun, Testbed]:
    clock = VirtualClock()
    bench = Testbed(root / "bench", clock)
    await bench.start()
    try:
        result = await Fleet(plan(root / "fleet", bench, processes, devices),
                             bench_clock=clock).run()
    finally:
        await bench.stop()
    if processes == 1 and devices == DEVICES:
        _IN_PROCESS.append(result)
    return result, bench


#: The in-process run of the fleet, once made in this session: the Ray test compares with it
#: (and makes it itself when run alone).
_IN_PROCESS: list[FleetRun] = []


def device_counts(run: FleetRun) -> dict[str, Any]:
    """What the devices counted that does not depend on thread timing.

    Left out: how many refusals a store got while throttled. When two of a device's own tasks
    are due at the same instant (a POP check and its token's retry), which takes the token
    first depends on which worker thread finished first, and so does whether the second asks
    the throttled provider again. Nor how many discovery documents were fetched: a device
    keeps the first one it gets, but its stores starting Get Token at the same instant each
    fetch one when they all ask before the first answer is kept (thread timing again).
    """
    final = run.series[-1]
    counts = {key: final.get(key) for key in ("tokens", "mail_sessions", "jobs", "messages",
                                              "device_states", "token_states")}
    counts["granted"] = {kind: outcomes.get("ok", 0)
                         for kind, outcomes in final["idp_requests"].items()
                         if kind != "discovery"}
    return counts


def left_in_mailboxes(bench: Testbed) -> int:
    root = bench.maildir_root
    return sum(len(mailbox.Maildir(folder, create=False)) for folder in root.iterdir()
               if folder.is_dir())


@pytest.mark.timeout(150)  # 13 s on a quiet machine, 40 s on this loaded one
async def test_a_fleet_of_50_on_the_virtual_clock(tmp_path: Path) -> None:
    run, bench = await run_fleet(tmp_path)
    final = run.series[-1]

    # Every device ends on, with its three tokens Retrieved; no job left unsent.
    assert [d for d in run.devices if d["state"] != "retrieved" or not d["on"]] == []
    assert all(set(d["tokens"].values()) == {"retrieved"} for d in run.devices)
    assert sum(d["pending_jobs"] for d in run.devices) == 0, [
        (d["n"], d["pending"]) for d in run.devices if d["pending_jobs"]]

    # The power cut hit exactly the drawn 30 %, and the series shows them off.
    cut = next(e for e in EVENTS.events if isinstance(e, PowerCut)).devices(DEVICES, PROFILE.seed)
    assert len(cut) == 15
    assert sorted(d["n"] for d in run.devices if d["boots"] == 2) == cut
    assert max(s["device_states"].get("off", 0) for s in run.series if s["t"] > 0) == 15

    # Throttling was met: every store's scheduled refresh was refused, then retried later
    # (the bench counted each 429 it sent; each was one answer a store got).
    stats = run.bench_stats
    assert stats is not None
    throttled = stats["idp"]["faults_fired"]["throttled"]
    assert final["idp_requests"]["refresh"]["http_429"] == throttled >= 3 * DEVICES
    assert final["token_calls"]["refresh"]["temporarily_unavailable"] == throttled
    assert final["retries_after_refusal"] > 0
    assert final["tokens"]["refreshed"] == 3 * DEVICES  # each store renewed once, after it
    # ... and no store asked again sooner than its back-off (docs/tokens.md: 30 s, jittered
    # down to half), though the provider said Retry-After: 1: none within 12.6 s (the
    # histogram's bucket under 15 s), whether seen at the call or at the HTTP request.
    for name in ("backoff", "request_backoff"):
        counts = final["hist"][name]
        first = next(i for i, count in enumerate(counts) if count)
        assert Histogram.upper(first - 1) >= 12.5, (name, Histogram.upper(first - 1))
        assert sum(counts) >= throttled

    # Mail went round: every job sent; what was sent was printed or waits in a mailbox.
    jobs, messages = final["jobs"], final["messages"]
    assert jobs["sent"] == jobs["scan_submitted"] + jobs["fax_submitted"] > 20, (jobs, final["job_failures"])
    assert jobs.get("failed", 0) == 0
    printed = messages.get("fax_printed", 0) + messages.get("print_printed", 0)
    assert printed > 10
    assert printed + messages.get("refused", 0) + left_in_mailboxes(bench) == jobs["sent"]

    # The report's counts are the bench's.
    page = write_report(run, tmp_path / "report")
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    rows = {r["what"]: r for r in data["comparison"]}
    assert all(r["equal"] for r in rows.values() if r["must_match"]), [r for r in rows.values() if not r["equal"]]
    assert rows["SMTP sessions"]["bench"] == stats["smtp"]["sessions"] == jobs["sent"]
    assert rows["refresh-token requests"]["bench"] == stats["idp"]["token"]["by_grant_type"][
        "refresh_token"]
    assert data["summary"]["final_states"] == {"retrieved": DEVICES}
    assert data["summary"]["tokens"]["obtained"] == 3 * DEVICES
    html = page.read_text()
    assert html.count("data:image/png;base64,") == 4
    assert "power cut at 60 s" in html and "fault throttled from 240 s" in html
    poll_round = next(w for w in data["windows"] if w["kind"] == "poll_round")
    assert poll_round["mail_sessions"] == 2 * DEVICES  # every POP setting of every device
    assert "100 checks, 0 failed" in poll_round["event"]


@pytest.mark.timeout(240)  # 35 s on a quiet machine, 90 s on this loaded one
async def test_the_same_fleet_over_two_ray_actors_counts_the_same(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    import ray

    local = _IN_PROCESS[0] if _IN_PROCESS else (await run_fleet(tmp_path / "local"))[0]
    try:
        spread, _bench = await run_fleet(tmp_path / "ray", processes=2)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert len(spread.nodes) == 2 and len({n.split(" pid ")[1] for n in spread.nodes}) == 2
    assert all(f"pid {__import__('os').getpid()}" not in n for n in spread.nodes)
    assert device_counts(spread) == device_counts(local)
    assert spread.series[-1]["idp_requests"]["refresh"]["http_429"] > 0
    assert [(d["n"], d["state"], d["boots"]) for d in spread.devices] == [
        (d["n"], d["state"], d["boots"]) for d in local.devices]
    stats = spread.bench_stats
    assert stats is not None
    final = spread.series[-1]
    assert final["mail_sessions"] == {"smtp": stats["smtp"]["sessions"],
                                      "pop3": stats["pop3"]["sessions"]}
    assert sum(final["idp_requests"]["device_poll"].values()) == stats["idp"]["token"][
        "by_grant_type"]["device_code"]


@pytest.mark.timeout(150)
def test_the_command_against_a_virtual_clock_bench(tmp_path: Path) -> None:
    """`mfp-sim fleet` as a person runs it, against `mfp-sim testbed --clock virtual` in its
    own process, the codes approved by the site's approver (a script of the site's, run once
    per code): a site's network goes down and comes back, one device's accounts are revoked;
    the progress line shows, the report says which device ended Invalid and that no device
    with power is stuck."""
    from mfp_sim.tools.hil_processes import MfpProcess, mfp_sim_command

    events = tmp_path / "events"
    events.write_text("network_down at=ready+10s site=2 for=1m\n"
                      "revoke at=ready+30s count=1\n", encoding="utf-8")
    profile = tmp_path / "profile.toml"
    profile.write_text('[mail]\npop_check_interval = 1\n[fleet]\nsites = 2\nseed = 3\n'
                       'approve = "site"\n', encoding="utf-8")
    approved = tmp_path / "approved.txt"
    approver = tmp_path / "approve.py"
    approver.write_text(
        "import sys\nfrom mfp_sim.tools.bench_control import BenchControl\n"
        "code, account, uri, store, testbed = sys.argv[1:]\n"
        "BenchControl.from_file(testbed).approve(code, account)\n"
        f"with open({str(approved)!r}, 'a') as out:\n"
        "    out.write(f'{code} {account} {store} {uri}\\n')\n", encoding="utf-8")
    bench = MfpProcess(["testbed", "--state", str(tmp_path / "bench"), "--clock", "virtual"],
                       tmp_path / "bench-process")
    try:
        bench.wait_ready(60)
        done = subprocess.run(
            [*mfp_sim_command(), "fleet", "--devices", "6", "--testbed",
             bench.values["testbed"], "--clock", "virtual", "--tick", "10s",
             "--duration", "6m", "--profile", str(profile), "--events", str(events),
             "--bench-knob", "access_token_lifetime=120", "--state", str(tmp_path / "fleet"),
             "--report", str(tmp_path / "report"), "--approver",
             f"{sys.executable} {approver} {{user_code}} {{account}} {{verification_uri}} "
             f"{{store}} {bench.values['testbed']}"],
            capture_output=True, text=True, timeout=120)
    finally:
        bench.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == f"report={(tmp_path / 'report' / 'report.html').resolve()}"
    progress = done.stderr.splitlines()
    assert progress[0].startswith("fleet 00:00:00  on 0/6"), progress
    assert progress[-1].startswith("fleet 00:06:00  on 6/6  Retrieved 5  tokens 15/18"), progress
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    summary = data["summary"]
    assert summary["final_states"] == {"retrieved": 5, "invalid": 1}, data["devices"]
    assert summary["stuck"] == 0 and summary["tokens"]["invalidated"] == 3
    # The site's devices could not reach a server while it was down, then renewed again.
    assert sum(v.get("unreachable", 0) for v in summary["idp_requests"].values()) \
        + sum(summary["mail_connect_failed"].values()) > 0
    assert all(r["equal"] for r in data["comparison"] if r["must_match"]), data["comparison"]
    lines = approved.read_text().splitlines()
    assert len(lines) == 18 == summary["approvals"]["approved"]  # 6 devices × 3 stores
    assert {line.split()[1] for line in lines} == {
        f"{kind}{n}@example.test" for kind in ("mfp", "fax", "print") for n in range(1, 7)}
    assert all(line.split()[3].startswith("https://127.0.0.1:") for line in lines)
    html = (tmp_path / "report" / "report.html").read_text()
    assert "network down at site 2" in html and "revoke" in html
