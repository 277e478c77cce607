"""What the bench gained for fleets: account families, many approvals per request, a virtual
clock moved over the control API, and SMTP sessions counted once across STARTTLS."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest

from mfp_sim.hwsim.clock import RealClock, VirtualClock
from mfp_sim.tools.bench_users import AccountFamily, BenchUsers
from mfp_sim.tools.testbed import Testbed

from .bench_clients import Wire
from .conftest import ALICE, in_thread


def test_a_family_is_a_pattern_and_a_count() -> None:
    users = BenchUsers()
    users.add_family(AccountFamily.parse("mfp{n}@example.test", 3))
    assert users.find("MFP2@example.test").username == "mfp2@example.test"  # type: ignore[union-attr]
    assert users.find("mfp2@example.test").password == "mfp2-pass-1"  # type: ignore[union-attr]
    assert users.find("mfp4@example.test") is None and users.find("mfp0@example.test") is None
    assert users.find("mfp02@example.test") is None  # one spelling per account
    assert users.find(ALICE) is not None
    assert "mfp{n}@example.test (n = 1..3)" in users.describe()


@pytest.mark.parametrize(("pattern", "count", "words"), [
    ("mfp@example.test", 5, "with {n} once"),
    ("mfp{n}{n}@example.test", 5, "with {n} once"),
    ("mfp@{n}.example.test", 5, "before @"),
    ("mfp{n}", 5, "not an address"),
    ("mfp{n}@example.test", 0, "count must be a whole number from 1 to 100000"),
    ("mfp{n}@example.test", True, "count must be"),
    (42, 5, "pattern must be"),
])
def test_a_wrong_family_says_what_is_allowed(pattern: object, count: object, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("{", r"\{").replace("}", r"\}")):
        AccountFamily.parse(pattern, count)


async def test_accounts_and_approve_all_over_the_control_api(bench: Testbed) -> None:
    wire = Wire(bench.idp, bench.ca_file)
    refused = await wire.control("POST", "approve", {"user_code": "X", "username": "mfp1@example.test"})
    assert refused.status_code == 404 and "mfp1@example.test" in refused.json()["message"]
    added = await wire.control("POST", "accounts", {"pattern": "mfp{n}@example.test", "count": 2})
    assert added.json() == {"added": {"pattern": "mfp{n}@example.test", "count": 2}}
    bad = await wire.control("POST", "accounts", {"pattern": "mfp@example.test", "count": 2})
    assert bad.status_code == 400 and "{n}" in bad.json()["message"]
    listing = (await wire.control("GET", "accounts")).json()
    assert listing["families"] == [{"pattern": "mfp{n}@example.test", "count": 2}]
    assert ALICE in listing["named"]

    codes = [(await wire.device_code()).json()["user_code"] for _ in range(2)]
    answer = (await wire.control("POST", "approve_all", {"approvals": [
        {"user_code": codes[0], "username": "mfp1@example.test"},
        {"user_code": "NOPE-NOPE", "username": "mfp1@example.test"},
        {"user_code": codes[1], "username": "mfp3@example.test"},
    ]})).json()
    assert answer["approved"] == [codes[0]]
    assert [(r["user_code"], r["error"]) for r in answer["refused"]] == [
        ("NOPE-NOPE", "unknown_user_code"), (codes[1], "unknown_user")]
    again = (await wire.control("POST", "approve_all", {"approvals": [
        {"user_code": codes[0], "username": "mfp2@example.test"}]})).json()
    assert again["refused"][0]["message"] == f"user code {codes[0]} was already approved"
    for body, words in [({}, "missing field 'approvals'"),
                        ({"approvals": []}, "a list of 1 to 10000"),
                        ({"approvals": ["x"]}, "each approval is an object")]:
        reply = await wire.control("POST", "approve_all", body)
        assert reply.status_code == 400 and words in reply.json()["message"], reply.json()


async def test_the_bench_clock_over_the_control_api(tmp_path: Path) -> None:
    clock = VirtualClock()
    async with Testbed(tmp_path / "v", clock, mail=False) as bench:
        wire = Wire(bench.idp, bench.ca_file)
        assert (await wire.control("GET", "clock")).json() == {"now": clock.now(), "virtual": True}
        moved = (await wire.control("POST", "clock", {"advance": 90})).json()
        assert moved["now"] == clock.now() == 1_800_000_090.0
        for body in ({"advance": -1}, {"advance": "1"}, {"advance": True}, {}):
            reply = await wire.control("POST", "clock", body)
            assert reply.status_code == 400 and "advance" in reply.json()["message"]
        assert bench.info()["clock"] == "virtual"
    async with Testbed(tmp_path / "r", RealClock(), mail=False) as bench:
        wire = Wire(bench.idp, bench.ca_file)
        assert (await wire.control("GET", "clock")).json()["virtual"] is False
        reply = await wire.control("POST", "clock", {"advance": 1})
        assert reply.status_code == 400 and "real clock" in reply.json()["message"]
        assert bench.info()["clock"] == "real"


async def test_a_starttls_session_is_counted_once(bench: Testbed) -> None:
    def session() -> None:
        with smtplib.SMTP("127.0.0.1", bench.mail.smtp_port, timeout=10) as s:
            s.starttls(context=bench.ca.client_context())
            s.ehlo()
            s.noop()

    await in_thread(session)
    await in_thread(session)
    assert bench.stats.snapshot()["smtp"]["sessions"] == 2


async def test_a_family_account_receives_mail(bench: Testbed) -> None:
    bench.idp.users.add_family(AccountFamily.parse("fax{n}@example.test", 5))

    def send(to: str) -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", bench.mail.smtp_port, timeout=10) as s:
            s.starttls(context=bench.ca.client_context())
            s.login(ALICE, "alice-pass-1")
            return s.sendmail(ALICE, [to], b"Subject: hi\r\n\r\nhello\r\n")

    assert await in_thread(lambda: send("fax5@example.test")) == {}
    assert len(list((bench.maildir_root / "fax5@example.test" / "new").iterdir())) == 1
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await in_thread(lambda: send("fax6@example.test"))
    assert refused.value.recipients["fax6@example.test"][0] == 550


async def test_a_bench_served_on_another_address(tmp_path: Path) -> None:
    """`--host`: URLs, certificates and the `local` provider's servers name that address
    (127.0.0.2 stands in for a lab network address here), and a small fleet works over it."""
    from mfp_sim.tools.fleet.coordinator import Fleet, FleetPlan
    from mfp_sim.tools.fleet.profile import FleetProfile

    clock = VirtualClock()
    async with Testbed(tmp_path / "bench", clock, host="127.0.0.2") as bench:
        info = bench.info()
        assert info["host"] == "127.0.0.2" and info["issuer"].startswith("https://127.0.0.2:")
        assert bench.provider().presets["pop"].server == "127.0.0.2"
        profile = FleetProfile.from_dict({"mail": {"fax_rate": 60, "pop_check_interval": 1}})
        run = await Fleet(FleetPlan(devices=3, root=tmp_path / "fleet", profile=profile,
                                    clock="virtual", duration=150, testbed=info, tick=10),
                          bench_clock=clock).run()
    assert [d["state"] for d in run.devices] == ["retrieved"] * 3
    final = run.series[-1]
    assert final["mail_sessions"]["pop3"] >= 12 and final["jobs"]["sent"] > 0
