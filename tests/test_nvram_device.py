"""The device's storage as a whole: private modes under any umask, the key kept apart from
NVRAM (and moved there from older state), a damaged NVRAM that stops the device, and one
device per NVRAM folder, in one process and across processes."""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.hwsim.errors import KeystoreError, NvramDamaged, NvramInUse
from mfp_sim.hwsim.nvram import Nvram

from .conftest import ALICE, BOB, sh
from .mail_helpers import setup_pop, setup_smtp, wait_job
from .test_mail_receive import fax_message

MFP_SIM = str(Path(sys.executable).parent / "mfp-sim")


def _device(nvram: Path, keystore: Path | None = None) -> Device:
    return Device(nvram, clock=VirtualClock(), providers=ProviderRegistry(), keystore_dir=keystore)


def _modes(*roots: Path) -> dict[str, str]:
    """Every file and folder under `roots` (themselves included) with its mode."""
    found: dict[str, str] = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            found[str(path.relative_to(root.parent))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


# -- modes --------------------------------------------------------------------------------------

async def test_everything_under_the_device_folder_is_private_whatever_the_umask(
        permissive_umask, make_device, bench, clock, tmp_path):
    dev = await make_device("dev")
    await setup_smtp(dev, bench, clock)
    await setup_pop(dev, bench, clock, "pop.ifax")
    job = await wait_job(dev, (await sh(dev, f"scan to={ALICE}"))["job"])  # a job in NVRAM
    assert job.state.value == "sent", job.reason
    printer = dev.receivers["pop.ifax"].printer
    await printer.stop()  # received faxes stay in the spool for now
    bench.mail.deliver(BOB, fax_message(1))
    assert (await dev.api.check_mail("pop.ifax", wait_printed=False)).spooled == 1

    running = _modes(tmp_path / "dev", tmp_path / "dev.keystore")  # WAL and SHM exist now
    await printer.start()
    assert await dev.api.wait_printed("pop.ifax", 10)
    printed = _modes(tmp_path / "dev", tmp_path / "dev.keystore")

    for modes in (running, printed):
        for name, mode in modes.items():
            is_dir = (tmp_path / name).is_dir()
            assert mode == ("0o700" if is_dir else "0o600"), (name, mode)
    expected = {"dev/nvram.sqlite", "dev/nvram.sqlite-wal", "dev/nvram.sqlite-shm",
                "dev/device.lock", "dev/trust/ca-bundle.pem", "dev.keystore/device.key"}
    assert expected <= set(running), sorted(running)
    assert any(n.startswith("dev/spool/pop.ifax/") and n.endswith(".batch") for n in running)
    assert any(n.startswith("dev/tray/") and n.endswith(".png") for n in printed)


def test_an_older_world_readable_state_is_tightened(permissive_umask, tmp_path: Path):
    old = tmp_path / "old"
    (old / "trust").mkdir(parents=True, mode=0o755)
    os.chmod(old, 0o755)
    Nvram(old).close()
    os.chmod(old / Nvram.FILENAME, 0o644)
    device = _device(old)
    try:
        for name, mode in _modes(old).items():
            assert mode == ("0o700" if (tmp_path / name).is_dir() else "0o600"), (name, mode)
    finally:
        device.nvram.close()
        device.lock.release()


# -- the key, apart --------------------------------------------------------------------------

async def test_the_key_is_kept_beside_the_nvram_folder_not_inside(tmp_path: Path):
    device = _device(tmp_path / "dev")
    await device.start()
    await sh(device, "set smtp.password Sup3rSecretPw")
    await device.stop()
    assert not (tmp_path / "dev" / "device.key").exists()
    key = tmp_path / "dev.keystore" / "device.key"
    assert len(key.read_bytes()) == 32 and device.keystore.path == key

    chosen = _device(tmp_path / "other", keystore=tmp_path / "secure-element")
    assert (tmp_path / "secure-element" / "device.key").exists()
    assert not (tmp_path / "other.keystore").exists()
    await chosen.stop()


async def test_a_key_inside_an_older_nvram_folder_is_moved_once(tmp_path: Path, caplog):
    device = _device(tmp_path / "demo")
    await device.start()
    await sh(device, "set smtp.password Sup3rSecretPw")  # sealed with the key
    await device.stop()
    # The layout of older versions: device.key inside the NVRAM folder.
    key = (tmp_path / "demo.keystore" / "device.key").read_bytes()
    (tmp_path / "demo.keystore" / "device.key").rename(tmp_path / "demo" / "device.key")
    (tmp_path / "demo.keystore").rmdir()

    caplog.set_level(logging.WARNING, logger="mfp_sim.hwsim.keystore")
    again = _device(tmp_path / "demo")
    try:
        assert again.settings.smtp().password == "Sup3rSecretPw"  # same key
        assert not (tmp_path / "demo" / "device.key").exists()
        moved = tmp_path / "demo.keystore" / "device.key"
        assert moved.read_bytes() == key and oct(moved.stat().st_mode & 0o777) == "0o600"
        [line] = [r.message for r in caplog.records if "moved the device key" in r.message]
        assert str(tmp_path / "demo" / "device.key") in line and str(moved) in line
    finally:
        await again.stop()
    caplog.clear()
    await (third := _device(tmp_path / "demo")).stop()  # once: nothing left to move
    assert not [r for r in caplog.records if "moved the device key" in r.message]
    assert third.keystore.path == tmp_path / "demo.keystore" / "device.key"


async def test_a_key_folder_inside_the_nvram_folder_is_refused(tmp_path: Path):
    with pytest.raises(KeystoreError, match="is inside the NVRAM folder") as refused:
        _device(tmp_path / "dev", keystore=tmp_path / "dev" / "keys")
    assert str(tmp_path / "dev.keystore") in str(refused.value)  # says where it goes
    await _device(tmp_path / "dev").stop()  # the refused device left the folder free


async def test_two_different_keys_are_not_silently_chosen_between(tmp_path: Path):
    await _device(tmp_path / "dev").stop()
    (tmp_path / "dev" / "device.key").write_bytes(os.urandom(32))
    with pytest.raises(KeystoreError, match="two different device keys"):
        _device(tmp_path / "dev")


# -- a damaged NVRAM stops the device ------------------------------------------------------

def _damage(nvram_file: Path) -> None:
    data = nvram_file.read_bytes()
    nvram_file.write_bytes(b"\0" * 100 + data[100:])


async def test_a_damaged_nvram_stops_the_device_with_how_to_recover(tmp_path: Path):
    await _device(tmp_path / "dev").stop()
    _damage(tmp_path / "dev" / Nvram.FILENAME)
    with pytest.raises(NvramDamaged) as refused:
        _device(tmp_path / "dev")
    message = str(refused.value)
    assert "is damaged" in message and "restore a backup" in message
    assert "damaged/nvram-" in message  # where the copy is
    (tmp_path / "dev" / Nvram.FILENAME).unlink()  # factory settings; the lock was released
    fresh = _device(tmp_path / "dev")
    assert fresh.settings.smtp().password == ""
    await fresh.stop()


def test_mfp_sim_device_refuses_a_damaged_nvram_with_code_2(tmp_path: Path):
    Nvram(tmp_path / "dev").close()
    _damage(tmp_path / "dev" / Nvram.FILENAME)
    proc = subprocess.run([MFP_SIM, "device", "--nvram", str(tmp_path / "dev"), "--clock",
                           "virtual"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "ready=1" not in proc.stdout
    assert "is damaged" in proc.stderr and "to start from factory settings" in proc.stderr
    assert str(tmp_path / "dev" / "damaged") in proc.stderr


# -- one device per NVRAM folder ---------------------------------------------------------------

async def test_a_second_device_on_the_same_folder_in_this_process_is_refused(tmp_path: Path):
    first = _device(tmp_path / "dev")
    await first.start()
    with pytest.raises(NvramInUse) as refused:
        _device(tmp_path / "dev")
    message = str(refused.value)
    assert str((tmp_path / "dev").resolve()) in message
    assert f"pid {os.getpid()}, this process" in message
    assert (await sh(first, "set smtp.port 2525"))["_ok"]  # the first one runs on
    await first.stop()
    second = _device(tmp_path / "dev")  # released on stop
    assert second.settings.smtp().port == 2525
    await second.stop()


def _open_files_under(folder: Path) -> list[str]:
    """The files under `folder` this process still holds open (from /proc/self/fd)."""
    fd_dir = Path("/proc/self/fd")
    held = []
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed while listing
            continue
        if target.startswith(str(folder)):
            held.append(target)
    return held


async def test_a_start_refused_after_nvram_opened_leaves_nothing_open(tmp_path: Path):
    """A CA the device cannot read stops the start after NVRAM was opened: the file is closed
    again and the folder free, so the admin fixes the CA and starts again in the same process."""
    with pytest.raises(Exception, match="not a PEM certificate"):
        Device(tmp_path / "dev", clock=VirtualClock(), providers=ProviderRegistry(),
               ca_pems=[b"garbage"])
    assert _open_files_under(tmp_path) == []
    again = _device(tmp_path / "dev")
    assert again.settings.smtp().port > 0
    assert _open_files_under(tmp_path)  # this one holds its NVRAM
    await again.stop()


class _Device:
    """`mfp-sim device` as a process, until it prints ready=1."""

    def __init__(self, nvram: Path) -> None:
        self.popen = subprocess.Popen(
            [MFP_SIM, "device", "--nvram", str(nvram), "--clock", "virtual"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.popen.stdout is not None
        buf = b""
        for _ in range(600):  # bounded: 30 s
            ready, _, _ = select.select([self.popen.stdout], [], [], 0.05)
            if ready:
                chunk = os.read(self.popen.stdout.fileno(), 65536)
                buf += chunk
                if b"ready=1" in buf or not chunk:
                    break
        assert b"ready=1" in buf, (buf, self.popen.poll())
        self.console = next(line.split(b"=", 1)[1].decode() for line in buf.splitlines()
                            if line.startswith(b"console="))

    def answers(self) -> bool:
        """One console exchange: the device is past start-up, in its main loop."""
        _, host, port = self.console.rsplit(":", 2)
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(b"clock\n")
            reply = b""
            while not reply.endswith(b"OK\r\n") and not reply.endswith(b"OK\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                reply += chunk
        return reply.rstrip().endswith(b"OK")

    def end(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            self.popen.wait(timeout=15)


def test_one_device_per_folder_across_processes(tmp_path: Path):
    folder = tmp_path / "dev"
    holder = _Device(folder)
    try:
        refused = subprocess.run([MFP_SIM, "device", "--nvram", str(folder), "--clock", "virtual"],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2, (refused.stdout, refused.stderr)
        assert "ready=1" not in refused.stdout
        assert str(folder.resolve()) in refused.stderr
        assert f"in use by another running device (pid {holder.popen.pid})" in refused.stderr
        with pytest.raises(NvramInUse, match=f"pid {holder.popen.pid}"):
            _device(folder)  # this process is refused too
        holder.end(signal.SIGKILL)  # the process dies: the kernel drops its lock
        assert holder.popen.returncode == -signal.SIGKILL
        survivor = _device(folder)
        survivor.nvram.close()
        survivor.lock.release()

        again = _Device(folder)
        assert again.answers()
        again.end(signal.SIGTERM)  # a clean stop releases it as well
        assert again.popen.returncode == 0
        after = _device(folder)
        after.nvram.close()
        after.lock.release()
    finally:
        holder.end(signal.SIGKILL)
