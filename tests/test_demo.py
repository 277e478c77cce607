"""`mfp-sim demo`: bench, device, console and panel in one process, offline."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from mfp_sim.panel.widgets.note_bar import NoteBar
from mfp_sim.tools.demo import DEMO_ACCOUNT, Demo, run_demo

from .conftest import obtain_token, wait_for
from .panel_fixtures import SIZE, until

ROOT = Path(__file__).resolve().parent.parent


async def console_line(address: str, line: str) -> list[str]:
    """One command over the device's TCP console, as a bench script would send it."""
    _, host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(line.encode() + b"\n")
    await writer.drain()
    lines: list[str] = []
    while not lines or not (lines[-1] == "OK" or lines[-1].startswith("ERR")):
        lines.append((await asyncio.wait_for(reader.readline(), 10)).decode().rstrip("\r\n"))
    writer.close()
    await writer.wait_closed()
    return lines


def _get(url: str, ca: Path) -> requests.Response:
    """A browser's GET that trusts only the bench CA (as after importing bench/ca.pem)."""
    session = requests.Session()
    session.trust_env = False
    return session.get(url, verify=str(ca), timeout=15)


async def run_headless(state: Path, out: io.StringIO) -> tuple[asyncio.Task[None], asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_demo(state, True, stop=stop, out=out))
    await wait_for(lambda: "ready=1" in out.getvalue() or task.done(), timeout=30, what="the demo")
    assert not task.done(), task.exception()
    return task, stop


async def test_headless_demo_is_configured_on_first_start_only(tmp_path):
    level = logging.getLogger().level
    out = io.StringIO()
    task, stop = await run_headless(tmp_path, out)
    info = json.loads((tmp_path / "demo.json").read_text())
    printed = dict(line.split("=", 1) for line in out.getvalue().splitlines())
    assert printed["console"] == info["console"] and printed["verification_uri"] == info["verification_uri"]
    assert printed["note"].startswith("First start: SMTP set to OAuth 2.0, provider local, account")
    # The web page is on by default, over HTTPS with a certificate from the bench CA.
    assert printed["web"] == info["web"] and info["web"].startswith("https://127.0.0.1:")
    login = await asyncio.to_thread(_get, info["web"] + "login", tmp_path / "bench" / "ca.pem")
    assert login.status_code == 200 and "Administrator login" in login.text
    # The bench's mail viewer, to watch the scan arrive: printed, in demo.json, trusted.
    assert printed["mail_viewer"] == info["mail_viewer"]
    mail = await asyncio.to_thread(_get, info["mail_viewer"], tmp_path / "bench" / "ca.pem")
    assert mail.status_code == 200 and "Bench mailboxes" in mail.text
    # The log file has the demo's INFO lines without -v, while the demo runs.
    log_text = (tmp_path / "demo.log").read_text()
    assert f"INFO mfp_sim.tools.demo: demo started: console {info['console']}" in log_text
    assert "INFO mfp_sim.tools.demo: note: First start" in log_text
    assert await console_line(info["console"], "get smtp.account") == [f"smtp.account={DEMO_ACCOUNT}", "OK"]
    assert await console_line(info["console"], "get smtp.auth") == ["smtp.auth=oauth2", "OK"]
    assert (await console_line(info["console"], "set smtp.account bob@example.test"))[-1] == "OK"
    stop.set()
    await asyncio.wait_for(task, 30)

    out = io.StringIO()
    task, stop = await run_headless(tmp_path, out)
    info2 = json.loads((tmp_path / "demo.json").read_text())
    assert await console_line(info2["console"], "get smtp.account") == ["smtp.account=bob@example.test", "OK"]
    # The new bench listens elsewhere: the `local` SMTP setting follows it.
    port = json.loads((tmp_path / "bench" / "testbed.json").read_text())["ports"]["smtp"]
    assert await console_line(info2["console"], "get smtp.port") == [f"smtp.port={port}", "OK"]
    stop.set()
    await asyncio.wait_for(task, 30)
    assert "note" not in out.getvalue()  # nothing to note on a later start without tokens
    assert logging.getLogger().level == level  # the demo gave the logging back as it was


async def test_demo_panel_shows_the_console_and_a_ready_get_token(tmp_path):
    async with Demo(tmp_path) as demo:
        app = demo.panel()
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, app.ready.is_set, what="ready")
            assert demo.console is not None
            network = str(app.screen.query_one("#status-network").content)
            assert demo.console.address in network
            assert demo.web is not None and f"web page {demo.web.url}" in network
            assert app.api.token_status("smtp").account == DEMO_ACCOUNT


async def test_demo_panel_shows_the_first_start_note(tmp_path):
    async with Demo(tmp_path) as demo:
        app = demo.panel()
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, app.ready.is_set, what="ready")
            assert app.screen.query_one(NoteBar).text == (
                f"ℹ First start: SMTP set to OAuth 2.0, provider local, account {DEMO_ACCOUNT}. "
                "Press Get Token on the SMTP page.")


async def test_a_token_of_the_previous_run_is_noted_on_the_panel(tmp_path, clock):
    async with Demo(tmp_path, clock=clock) as demo:
        assert demo.device is not None
        await obtain_token(demo.device, demo.bench, clock)
    async with Demo(tmp_path, clock=clock) as demo:  # a new bench, which never issued that token
        assert demo.device is not None
        assert demo.device.api.token_status("smtp").state.value == "not_retrieved"
        app = demo.panel()
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, app.ready.is_set, what="ready")
            assert app.screen.query_one(NoteBar).text == (
                "ℹ SMTP: the token of the previous run was cleared (the bench is new): "
                "press Get Token again.")


# ------------------------------------------------------------------ make's first-run check
def fake_python(tmp_path: Path, name: str, setup: str) -> Path:
    """A `python3` that is the real one with `setup` run first (an old version, a missing module)."""
    path = tmp_path / name
    path.write_text(f"""#!/bin/sh
exec {sys.executable} -c 'import sys; {setup}; code = sys.argv.pop(1); exec(code)' "$2"
""")
    path.chmod(0o755)
    return path


def check_python(python: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(ROOT / "tools" / "check-python.sh"), str(python)],
                          capture_output=True, text=True, timeout=30, env=dict(os.environ))


def test_first_run_check_passes_with_this_python():
    result = check_python(sys.executable)
    assert result.returncode == 0 and result.stderr == ""


@pytest.mark.parametrize(("python", "says", "install"), [
    ("no-such-python3", "'no-such-python3' was not found", "apt-get install python3 python3-venv"),
    ("old", "is Python 3.9", "brew install python@3.12"),
    ("novenv", "has no venv module", "python3-venv"),
])
def test_first_run_check_says_what_to_install(tmp_path, python, says, install):
    if python == "old":
        python = fake_python(tmp_path, "python3", "sys.version_info = (3, 9, 18, \"final\", 0)")
    elif python == "novenv":
        python = fake_python(tmp_path, "python3", "sys.modules[\"ensurepip\"] = None")
    result = check_python(python)
    assert result.returncode == 1
    assert "Python 3.11 or newer" in result.stderr or "venv" in result.stderr
    assert says in result.stderr and install in result.stderr
