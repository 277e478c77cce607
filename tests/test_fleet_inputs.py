"""The fleet's inputs: the profile, the events file and the command line refuse what is wrong
with what is allowed; the devices a fraction picks are the same however the fleet is split;
a device and the mfp-sim command never import Ray or matplotlib."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mfp_sim.firmware.contexts import CONTEXTS
from mfp_sim.tools.cli import main
from mfp_sim.tools.fleet.command import prepare_state
from mfp_sim.tools.fleet.errors import FleetInputError, ProfileError, TimelineError
from mfp_sim.tools.fleet.profile import FleetProfile
from mfp_sim.tools.fleet.timeline import (
    Fault,
    NetworkDown,
    PollRound,
    PowerCut,
    Revoke,
    Timeline,
    duration,
)

ROOT = Path(__file__).resolve().parent.parent


def test_the_default_profile_uses_every_store_with_its_own_accounts() -> None:
    profile = FleetProfile()
    assert profile.stores == tuple(c.name for c in CONTEXTS)
    accounts = {profile.account(s, 7, 10) for s in profile.stores}
    assert len(accounts) == len(CONTEXTS) and all("7@example.test" in a for a in accounts)
    assert (profile.scan_rate, profile.fax_rate, profile.pop_check_interval) == (0, 0, 5)


def test_the_example_profile_loads() -> None:
    profile = FleetProfile.load(ROOT / "docs" / "fleet" / "office.toml")
    assert profile.fax_target(10, 10) == "fax1@example.test"  # the last device's peer is 1
    assert profile.scan_target(3, 10) == "print3@example.test"
    assert [profile.site_of(n, 100) for n in (1, 10, 11, 100)] == [1, 1, 2, 10]
    assert "fax{n}@example.test" in profile.families()


@pytest.mark.parametrize(("data", "words"), [
    ({"mail": {"scan_rate": -1}}, "scan_rate: a number from 0 to 3600"),
    ({"mail": {"pop_check_interval": 0}}, "pop_check_interval: a whole number from 1 to 240"),
    ({"mail": {"leave_copy": "yes"}}, "leave_copy: true or false"),
    ({"mail": {"sacn_rate": 1}}, "[mail] has no key 'sacn_rate'; keys: scan_rate"),
    ({"mial": {}}, "no section [mial]"),
    ({"accounts": {"pop.fax": "x{n}@example.test"}}, "'pop.fax' is not a token store"),
    ({"accounts": {"smtp": "mfp@example.test"}}, "put {n} in it so each device has its own"),
    ({"accounts": {"smtp": "mfp{peer}@example.test"}}, "{peer} is not a placeholder here"),
    ({"accounts": {"smtp": "mfp{n}"}}, "is not an address pattern"),
    ({"accounts": {}}, "lists no store"),
    ({"accounts": {"pop.ifax": "fax{n}@example.test"}, "mail": {"fax_rate": 1}},
     "sending needs the SMTP token"),
    ({"fleet": {"approve": "maybe"}}, 'approve: "bench"'),
    ({"fleet": {"sites": 0}}, "sites: a whole number from 1"),
])
def test_a_wrong_profile_says_what_is_allowed(data: dict[str, object], words: str) -> None:
    with pytest.raises(ProfileError) as refused:
        FleetProfile.from_dict(data, "p.toml")
    assert words in str(refused.value) and str(refused.value).startswith("p.toml")


def test_a_profile_that_is_not_toml(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text("[mail\nscan_rate = 1\n")
    with pytest.raises(ProfileError, match="is not TOML"):
        FleetProfile.load(tmp_path / "p.toml")
    with pytest.raises(ProfileError, match="cannot read the fleet profile"):
        FleetProfile.load(tmp_path / "missing.toml")


def test_the_events_file() -> None:
    timeline = Timeline.parse("""
        # a storm
        revoke at=20m fraction=0.1
        power_cut at=10m fraction=0.3 for=90s   # comment
        network_down at=1h30m site=3 for=5m
        idp_fault throttled at=25m for=2m retry_after=30 phases=idp.refresh,idp.device_poll
        mail_fault pop_in_use
        poll_round at=ready+2m
    """, "e")
    kinds = [type(e) for e in timeline.events]
    assert kinds == [Fault, PowerCut, Revoke, Fault, NetworkDown, PollRound]  # in time order
    last = timeline.events[-1]
    assert (last.at, last.after_ready, last.describe()) == (
        120, True, "synchronised poll round at ready+120 s")
    cut = timeline.events[1]
    assert isinstance(cut, PowerCut) and (cut.at, cut.fraction, cut.off_for) == (600, 0.3, 90)
    throttled = timeline.events[3]
    assert isinstance(throttled, Fault)
    assert throttled.arm_body() == {"name": "throttled", "retry_after": 30.0,
                                    "phases": ["idp.refresh", "idp.device_poll"]}
    assert timeline.events[0].duration is None  # armed to the end
    assert len(timeline.needs_bench()) == 3
    assert [duration(t) for t in ("90", "90s", "2m", "1h30m", "0.5h")] == [90, 90, 120, 5400, 1800]


@pytest.mark.parametrize(("line", "words"), [
    ("power_outage at=1m", "'power_outage' is not an event"),
    ("power_cut at=1m", "give fraction=F (0 < F <= 1) or count=N"),
    ("power_cut at=1m fraction=1.5", "fraction must be a number above 0 and at most 1"),
    ("power_cut at=1m fraction=0.1 count=3", "one of them"),
    ("power_cut at=soon fraction=0.1", "'soon' is not a duration"),
    ("power_cut at=1m fraction=0.1 site=2", "power_cut takes no site="),
    ("power_cut at=1m at=2m fraction=0.1", "at is given twice"),
    ("network_down at=1m site=3", "network_down needs site=K and for=D"),
    ("network_down at=1m site=x for=1m", "site must be a site number from 1"),
    ("idp_fault at=1m", "idp_fault needs a fault name"),
    ("idp_fault throttled retry_after=soon", "a fault option is a number"),
    ("revoke fraction", "'fraction' is not key=value"),
])
def test_a_wrong_event_says_where_and_what_is_allowed(line: str, words: str) -> None:
    with pytest.raises(TimelineError) as refused:
        Timeline.parse(f"# first line\n{line}\n", "storm.events")
    assert str(refused.value).startswith("storm.events line 2: ") and words in str(refused.value)


def test_a_fraction_picks_the_same_devices_whatever_the_split() -> None:
    cut = Timeline.parse("power_cut at=1m fraction=0.3", "e").events[0]
    assert isinstance(cut, PowerCut)
    picked = cut.devices(2000, seed=1)
    assert len(picked) == 600 and picked == cut.devices(2000, seed=1)
    assert picked != cut.devices(2000, seed=2)


def test_the_state_folder_is_emptied_only_if_the_fleet_made_it(tmp_path: Path) -> None:
    mine = prepare_state(tmp_path / "fleet")
    (mine / "shard-0").mkdir()
    prepare_state(mine)
    assert sorted(p.name for p in mine.iterdir()) == ["mfp-sim-fleet"]
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(FleetInputError, match="holds files the fleet did not make"):
        prepare_state(other)
    assert (other / "cat.jpg").exists()


def test_the_command_refuses_before_starting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    testbed = tmp_path / "testbed.json"
    testbed.write_text('{"issuer": "https://127.0.0.1:1/bench", "ca_file": "x", "client_id": "c", '
                       '"scopes": {}, "control_url": "https://127.0.0.1:1/control"}')
    events = tmp_path / "e.events"
    events.write_text("revoke at=1m fraction=0.1\nnetwork_down at=1m site=4 for=1m\n")
    status = main(["fleet", "--devices", "10", "--testbed", str(testbed), "--events", str(events),
                   "--state", str(tmp_path / "s"), "--report", str(tmp_path / "r")])
    assert status == 2
    assert "site 4, but the profile has 1 site(s)" in capsys.readouterr().err
    status = main(["fleet", "--devices", "10", "--testbed", str(testbed), "--approver",
                   "approve {code}", "--state", str(tmp_path / "s"), "--report", str(tmp_path / "r")])
    assert status == 2
    assert 'approve = "site" and --approver CMD go together (approve is \'bench\', --approver given)' \
        in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fleet", "--devices", "0", "--testbed", str(testbed)])
    assert "a whole number from 1" in capsys.readouterr().err


_HEAVY = "[m for m in sys.modules if m.split('.')[0] in ('ray', 'matplotlib')]"


def test_a_device_and_the_command_never_import_ray_or_matplotlib() -> None:
    code = ("import sys; import mfp_sim.firmware.device, mfp_sim.tools.cli; "
            "from mfp_sim.tools.cli import parser; parser(); "
            f"print({_HEAVY})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.timeout(90)
def test_the_demo_runs_without_ray_or_matplotlib(tmp_path: Path) -> None:
    """The whole demo (bench, device, console, web page) started and stopped in a fresh
    process: none of the fleet's libraries is loaded."""
    code = f"""
import asyncio, io, sys
from pathlib import Path
from mfp_sim.tools.demo import run_demo

async def main():
    stop = asyncio.Event()
    out = io.StringIO()
    task = asyncio.create_task(run_demo(Path(sys.argv[1]), True, stop=stop, out=out))
    for _ in range(600):
        if "ready=1" in out.getvalue() or task.done():
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 30)
    print("ready" if "ready=1" in out.getvalue() else "not ready")
    print({_HEAVY})

asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "demo")],
                         capture_output=True, text=True, timeout=80)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["ready", "[]"], out.stdout


COMPANY = """
[providers.keycloak]
authority = "https://sso.example.com/realms/office"
client_id = "mfp-device"
scopes = { smtp = ["smtp.send"], pop = ["pop.read"] }
[providers.keycloak.presets.smtp]
server = "mail.example.com"
port = 2587
security = "starttls"
[providers.keycloak.presets.pop]
server = "mail.example.com"
port = 2995
"""


def test_a_providers_file_names_the_mail_servers_the_fleet_counts() -> None:
    from mfp_sim.tools.fleet.coordinator import provider_ports

    assert provider_ports(COMPANY, "keycloak") == {2587: "smtp", 2995: "pop3"}
    assert provider_ports("", "microsoft") == {587: "smtp", 995: "pop3"}


@pytest.mark.parametrize(("text", "provider", "words"), [
    (COMPANY, "okta", "the profile's provider 'okta' is not among the providers (google, keycloak, microsoft)"),
    ("[providers.keycloak]\nauthority = 'http://sso.example.com'\n", "keycloak", "--providers: "),
    ("not toml [", "keycloak", "--providers: providers file the file is not valid TOML"),
])
def test_a_wrong_providers_file_is_refused_before_starting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, provider: str,
        words: str) -> None:
    providers = tmp_path / "providers.toml"
    providers.write_text(text, encoding="utf-8")
    profile = tmp_path / "profile.toml"
    profile.write_text(f'[fleet]\nprovider = "{provider}"\napprove = "none"\n', encoding="utf-8")
    status = main(["fleet", "--devices", "3", "--providers", str(providers), "--profile",
                   str(profile), "--state", str(tmp_path / "s"), "--report", str(tmp_path / "r")])
    assert status == 2
    err = capsys.readouterr().err
    assert words in err, err
    assert not (tmp_path / "r").exists()
