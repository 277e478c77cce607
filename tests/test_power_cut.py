"""Power cuts: the device process is killed at random instants while it writes settings and
token records; NVRAM must always open and hold, for each key, the old or the new value.

The writer is a forked child (fast to start, same code) that runs the real SettingsStore and
TokenStore persistence and reports each generation after it returned. SIGKILL lands at a
random point; the parent then opens NVRAM as a rebooting device would.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import select
import signal
from pathlib import Path

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.hwsim.keystore import KeyStore
from mfp_sim.hwsim.nvram import Nvram

KILLS = 220


def _writer(directory: Path, start_gen: int, report_fd: int) -> None:
    async def run() -> None:
        device = Device(directory, clock=VirtualClock(), providers=ProviderRegistry())
        store = device.stores["smtp"]
        os.write(report_fd, b"S\n")
        gen = start_gen
        while True:
            gen += 1
            await device.settings.set_text("smtp.port", str(1000 + gen % 60000))
            store._reason = f"generation {gen}"
            store._account = f"user{gen}@example.test"
            store._persist()
            os.write(report_fd, f"{gen}\n".encode())

    asyncio.run(run())


def _read_state(directory: Path) -> tuple[int, int]:
    """(settings generation, token generation) as a rebooting device sees them."""
    nvram = Nvram(directory)
    keys = KeyStore.for_device(directory)  # the key is kept beside the NVRAM folder
    try:
        assert nvram._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        settings_blob = nvram.read("settings.smtp")
        token_blob = nvram.read("token.smtp")
        port = json.loads(keys.open(settings_blob, context="settings.smtp"))["port"] if settings_blob else 1000
        token = json.loads(keys.open(token_blob, context="token.smtp")) if token_blob else {"reason": "generation 0"}
        return port - 1000, int(token["reason"].split()[-1])
    finally:
        nvram.close()


def test_nvram_survives_kills_at_random_instants(tmp_path: Path):
    directory = tmp_path / "dev"
    rng = random.Random(20261122)
    previous_token = 0
    for kill in range(KILLS):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: write until killed
            os.close(r)
            try:
                _writer(directory, previous_token, w)
            finally:
                os._exit(0)
        os.close(w)
        buf = b""
        started = False
        deadline_polls = 0
        while not started and deadline_polls < 500:
            ready, _, _ = select.select([r], [], [], 0.01)
            deadline_polls += 1
            if ready:
                buf += os.read(r, 65536)
                started = b"S\n" in buf
        assert started, "writer did not start"
        # Kill somewhere inside the write loop: random delay, a few writes at most.
        select.select([], [], [], rng.uniform(0, 0.012))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            buf += chunk
        os.close(r)
        reported = [int(x) for x in buf.split(b"\n") if x and x != b"S"]
        settings_gen, token_gen = _read_state(directory)
        # Each generation writes settings, then the token record, then reports. What was
        # reported is durable; at most the one generation in flight may have landed, in part
        # (its settings) or whole, never torn inside a record.
        confirmed = reported[-1] if reported else previous_token
        assert confirmed <= token_gen <= confirmed + 1, (kill, confirmed, token_gen)
        assert settings_gen in (token_gen, token_gen + 1), (kill, settings_gen, token_gen)
        previous_token = token_gen
    assert previous_token > KILLS  # the children really were writing when killed
