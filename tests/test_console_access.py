"""Who may use the console: a login per connection beyond loopback, an attempt limit, the
administrator password changed only with the current one, and a token that is not sent to a
new server without the administrator's word.

The console runs on 127.0.0.1 with its sessions made as for a console bound to 0.0.0.0
(`sessions_for("0.0.0.0")`), so the rule is exercised over real TCP without opening a port
beyond the machine; test_processes.py starts a real `--console tcp:0.0.0.0:0` device.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from mfp_sim.firmware.access import PasswordGuard, is_loopback
from mfp_sim.firmware.device import Device
from mfp_sim.firmware.errors import ConfirmationNeeded
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools import cli
from mfp_sim.tools.hil import MfpConsole
from mfp_sim.tools.testbed import Testbed

from .conftest import obtain_token, sh
from .console_helpers import in_thread, talk, tcp_console


def test_which_addresses_count_as_this_machine_only():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.20", "mfp.example.com"))


async def test_beyond_loopback_each_connection_logs_in_for_itself(device: Device):
    device.api.guard.delay = 0
    async with tcp_console(device, bound_as="0.0.0.0") as console:
        first = await in_thread(lambda: MfpConsole(console.address))
        second = await in_thread(lambda: MfpConsole(console.address))
        try:
            for line in ("get smtp.port", "help", "set device.name X", "frobnicate"):
                refused = await in_thread(lambda line=line: first.run(line))
                assert refused.error == ("login required: this console is reachable from the "
                                         "network; send login <administrator password> first")
            wrong = await in_thread(lambda: first.run("login Admin"))
            assert wrong.error.startswith("the administrator password is not correct (4 more")
            assert (await in_thread(lambda: first.ok("login admin")))["login"] == "ok"
            assert (await in_thread(lambda: first.ok("get smtp.port")))["smtp.port"] == "587"
            # The other connection has its own session: still not logged in.
            assert (await in_thread(lambda: second.run("get smtp.port"))).error.startswith(
                "login required")
        finally:
            first.close()
            second.close()
        # A new connection starts logged out; the client logs in when given the password.
        [again] = await talk(console, "get smtp.port")
        assert again["_err"].startswith("login required")
        [done] = await talk(console, "get smtp.port", password="admin")
        assert done["smtp.port"] == "587"
        assert device.settings.device().name == "MFP-SIM"
    # On this machine only, no login is needed, and `login` still answers (scripts may send it).
    async with tcp_console(device) as local:
        replies = await talk(local, "get smtp.port", "login admin")
        assert replies[0]["smtp.port"] == "587" and replies[1]["login"] == "ok"


async def test_wrong_passwords_are_slowed_then_locked_on_every_connection(device: Device):
    now = [1000.0]
    device.api.guard = PasswordGuard(delay=0.2, lockout=60, max_failures=5, now=lambda: now[0])
    conn_a = device.shell.open(login_required=True)
    conn_b = device.shell.open(login_required=True)
    started = time.monotonic()
    first = await conn_a.execute("login guess1")
    assert time.monotonic() - started >= 0.2  # a wrong password is answered only after the delay
    assert first == ["ERR the administrator password is not correct (4 more tries before a pause)"]
    device.api.guard.delay = 0
    for guess in ("guess2", "guess3", "guess4"):
        await conn_b.execute(f"login {guess}")  # another connection counts towards the same limit
    fifth = await conn_a.execute("login guess5")
    assert fifth == ["ERR the administrator password is not correct; 5 wrong in a row: "
                     "refused for the next 60 s"]
    locked = await conn_b.execute("login admin")
    assert locked == ["ERR too many wrong passwords: every administrator password is refused "
                      "for 61 s more"]
    # `password` goes through the same guard.
    assert (await conn_a.execute("get smtp.port"))[0].startswith("ERR login required")
    now[0] += 61
    assert await conn_b.execute("login admin") == ["login=ok", "OK"]
    assert (await conn_b.execute("get smtp.port"))[-1] == "OK"


async def test_the_admin_password_changes_only_with_the_current_one_over_tcp(device: Device):
    device.api.guard.delay = 0
    async with tcp_console(device, bound_as="0.0.0.0") as console:
        replies = await talk(console, "set device.admin_password N3w-secret", "password admin",
                             "password nope N3w-secret", "password admin N3w-secret",
                             password="admin")
        refused, usage, wrong, changed = replies
        assert refused["_err"].startswith("device.admin_password: changing the administrator "
                                          "password needs the current one: on the console "
                                          "`password <current> <new>`")
        assert usage["_err"].startswith("usage: password <current password> <new password>")
        assert wrong["_err"].startswith("the current administrator password is not correct")
        assert changed == {"device.admin_password": "********", "_ok": "yes", "_err": ""}
        [old] = await talk(console, "login admin")
        assert old["_err"].startswith("the administrator password is not correct")
        [new] = await talk(console, "get device.admin_password", password="N3w-secret")
        assert new["device.admin_password"] == "********"


async def test_a_token_is_not_sent_to_a_new_server_without_confirmation(
        device: Device, bench: Testbed, clock: VirtualClock):
    await obtain_token(device, bench, clock)
    server, port = device.api.get("smtp.server"), device.api.get("smtp.port")
    moved = await sh(device, "set smtp.server mail.attacker.example")
    assert not moved["_ok"]
    assert moved["_err"] == (
        f"smtp holds a token for alice@example.test: with this change the device would send that "
        f"token to mail.attacker.example:{port} instead of {server}:{port}; if that server is meant "
        "to have it, repeat with --confirm: set smtp.server mail.attacker.example --confirm (or "
        "clear the token first)")
    assert (await sh(device, "set smtp.port 2525"))["_err"].startswith("smtp holds a token")
    assert device.api.get("smtp.server") == server and device.api.get("smtp.port") == port
    # The panel's and web page's way refuses the same, and says it in the same words.
    with pytest.raises(ConfirmationNeeded, match=r"would send that token to 127\.0\.0\.1:2525"):
        await device.api.update("smtp", {"port": "2525"})
    # Other settings need no confirmation; the same server and port need none either.
    assert (await sh(device, f"set smtp.server {server}"))["_ok"]
    assert (await sh(device, "set smtp.timeout 40"))["_ok"]
    confirmed = await sh(device, "set smtp.server mail.example.test --confirm")
    assert confirmed["_ok"] and confirmed["smtp.server"] == "mail.example.test"
    assert device.api.token_status("smtp").state is TokenState.RETRIEVED
    # Changing the account makes the token Invalid: it goes nowhere, so no question is asked.
    assert (await sh(device, "set smtp.account bob@example.test"))["_ok"]
    assert device.api.token_status("smtp").state is TokenState.INVALID
    assert (await sh(device, "set smtp.server other.example.test"))["_ok"]


def test_console_and_web_beyond_loopback(capsys: pytest.CaptureFixture[str]):
    cli._warn_if_reachable("console", "0.0.0.0")
    assert "warning: the console on 0.0.0.0 is reachable beyond this machine" in (
        capsys.readouterr().err)
    cli._warn_if_reachable("console", "127.0.0.1")
    assert capsys.readouterr().err == ""
    cli._warn_if_reachable("web page", "0.0.0.0")
    assert "web page on 0.0.0.0 is reachable beyond this machine; it is served over HTTPS " \
        "only" in capsys.readouterr().err
    args = cli.parser().parse_args(["device", "--nvram", "x", "--web", "tcp:127.0.0.1:0",
                                    "--console", "socket://127.0.0.1:0"])
    assert args.web == ("tcp", "127.0.0.1", 0) and args.console == ("tcp", "127.0.0.1", 0)


async def test_a_login_waits_do_not_hold_other_connections(device: Device):
    """The guard's delay is a sleep in the waiting connection only."""
    device.api.guard.delay = 0.3
    slow = device.shell.open(login_required=True)
    fast = device.shell.open()
    waiting = asyncio.ensure_future(slow.execute("login wrong"))
    assert (await asyncio.wait_for(fast.execute("get smtp.port"), 0.25))[-1] == "OK"
    assert (await waiting)[0].startswith("ERR the administrator password is not correct")
