"""The `mfp-sim` command: the bench, a headless device, the demo, the benchmark.

    mfp-sim testbed --state DIR [--policy microsoft|google]
    mfp-sim device --nvram DIR [--testbed FILE] [--console tcp:HOST:PORT|pty]
                   [--clock real|virtual] [--ca FILE]... [--providers FILE]
    mfp-sim demo [--state DIR] [--headless]
    mfp-sim scenario FILE --console URL [--testbed FILE]
    mfp-sim bench [--quick|--smoke] [--json FILE] [--only NAME...]

Every command prints `key=value` lines a script can read (`console=...`, `ready=1`) and runs
until interrupted (Ctrl-C or SIGTERM), then shuts down cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

__all__ = ["main"]

log = logging.getLogger("mfp-sim")


class UsageError(Exception):
    pass


def _console_spec(text: str) -> tuple[str, str, int]:
    if text == "pty":
        return ("pty", "", 0)
    kind, _, rest = text.partition(":")
    host, _, port = rest.rpartition(":")
    if kind != "tcp" or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use tcp:HOST:PORT (PORT 0 lets the system choose) or pty")
    return ("tcp", host, int(port))


def _web_spec(text: str) -> tuple[str, str, int]:
    spec = _console_spec(text)
    if spec[0] != "tcp":
        raise argparse.ArgumentTypeError(f"{text!r}: use tcp:HOST:PORT")
    return spec


async def _wait_for_stop() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def start_console(handler: Any, spec: tuple[str, str, int]) -> Any:
    from mfp_sim.hwsim.uart import PtyConsole, TcpConsole

    if spec[0] == "pty":
        pty = PtyConsole(handler)
        await pty.start()
        return pty
    tcp = TcpConsole(handler, spec[1], spec[2])
    await tcp.start()
    return tcp


def build_device(args: argparse.Namespace, clock: Any, testbed_info: dict[str, Any] | None) -> Any:
    from mfp_sim.firmware.device import Device
    from mfp_sim.firmware.providers import ProviderRegistry
    from mfp_sim.firmware.trust import TrustStore
    from mfp_sim.tools.testbed import local_provider

    registry = ProviderRegistry()
    pems: list[bytes] = []
    if testbed_info is not None:
        registry.add(local_provider(testbed_info))
        pems.append(TrustStore.read_ca_file(Path(testbed_info["ca_file"])))
    for ca in args.ca or []:
        pems.append(TrustStore.read_ca_file(Path(ca)))
    if args.providers:
        registry.load_toml(Path(args.providers))
    return Device(Path(args.nvram), clock=clock, providers=registry, ca_pems=pems)


async def _device(args: argparse.Namespace) -> None:
    from mfp_sim.hwsim.clock import RealClock, VirtualClock
    from mfp_sim.tools.testbed import load_testbed

    info = load_testbed(Path(args.testbed)) if args.testbed else None
    clock = VirtualClock() if args.clock == "virtual" else RealClock()
    device = build_device(args, clock, info)
    await device.start()
    console = await start_console(device.shell.execute, args.console)
    print(f"console={console.address}", flush=True)
    web = None
    if args.web is not None:
        from mfp_sim.firmware.webpage import DeviceWebPage

        web = DeviceWebPage(device.api, args.web[1], args.web[2])
        print(f"web={await web.start()}", flush=True)
    print(f"nvram={Path(args.nvram).resolve()}", flush=True)
    print("ready=1", flush=True)
    try:
        await _wait_for_stop()
    finally:
        if web is not None:
            await web.stop()
        await console.stop()
        await device.stop()


async def _testbed(args: argparse.Namespace) -> None:
    from mfp_sim.hwsim.clock import RealClock
    from mfp_sim.tools.idp import IdpPolicy
    from mfp_sim.tools.testbed import Testbed

    policy = IdpPolicy.google() if args.policy == "google" else IdpPolicy.microsoft()
    bench = Testbed(Path(args.state), RealClock(), policy=policy)
    info = await bench.start()
    print(json.dumps(info, indent=2), flush=True)
    for name, port in info["ports"].items():
        print(f"port_{name}={port}", flush=True)
    if "maildir_root" in info:
        print(f"maildir_root={info['maildir_root']}", flush=True)
    print(f"testbed={bench.json_path.resolve()}", flush=True)
    print("ready=1", flush=True)
    try:
        await _wait_for_stop()
    finally:
        await bench.stop()


async def _demo(args: argparse.Namespace) -> None:
    from mfp_sim.tools.demo import run_demo

    await run_demo(Path(args.state), headless=args.headless)


def _bench(args: argparse.Namespace) -> int:
    from mfp_sim.tools.benchmark import main as bench_main
    from mfp_sim.tools.benchmark.servers import BenchError

    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    try:
        return bench_main(mode, Path(args.json) if args.json else None, args.only)
    except BenchError as exc:
        print(f"mfp-sim bench: error: {exc}", file=sys.stderr)
        return 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mfp-sim", description="MFP firmware simulator and its bench")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("testbed", help="run the bench: identity provider and mail server")
    t.add_argument("--state", required=True, help="folder for testbed.json, the CA and the Maildirs")
    t.add_argument("--policy", choices=["microsoft", "google"], default="microsoft")

    d = sub.add_parser("device", help="run a headless device with its serial console")
    d.add_argument("--nvram", required=True, help="the device's non-volatile memory folder")
    d.add_argument("--testbed", help="testbed.json of a running bench (adds provider 'local')")
    d.add_argument("--console", type=_console_spec, default=("tcp", "127.0.0.1", 0),
                   help="tcp:HOST:PORT or pty (default tcp:127.0.0.1:0)")
    d.add_argument("--web", type=_web_spec, default=None,
                   help="serve the device web page on tcp:HOST:PORT (PORT 0: system's choice)")
    d.add_argument("--clock", choices=["real", "virtual"], default="real")
    d.add_argument("--ca", action="append", help="import a CA certificate (PEM); repeatable")
    d.add_argument("--providers", help="TOML file adding or overriding providers")

    m = sub.add_parser("demo", help="bench + device + front panel in one process")
    m.add_argument("--state", default="state/demo", help="folder for the demo's state")
    m.add_argument("--headless", action="store_true", help="no panel: console only")

    s = sub.add_parser("scenario", help="run a scenario file against a device's console")
    s.add_argument("file", help="scenario file (docs/shell.md: Scenario files)")
    s.add_argument("--console", required=True, help="socket://HOST:PORT, /dev/pts/N or a serial port")
    s.add_argument("--testbed", help="testbed.json, for bench actions (approve, revoke, ...)")
    s.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for each reply")

    b = sub.add_parser("bench", help="measure speed and memory; prints a table (docs/bench.md)")
    size = b.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer repetitions, smaller counts")
    size.add_argument("--smoke", action="store_true",
                      help="tiny counts: checks that every measurement runs; figures meaningless")
    b.add_argument("--json", metavar="FILE",
                   help="also write every figure as JSON: [{name, value, unit, goal, met, ...}]")
    b.add_argument("--only", nargs="+", metavar="NAME",
                   help="run these sections only: send drain token startup memory backlog "
                        "history panel")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from mfp_sim.firmware.errors import FirmwareError
    from mfp_sim.hwsim.errors import HwsimError
    from mfp_sim.tools.testbed import TestbedError

    try:
        if args.command == "bench":
            return _bench(args)
        if args.command == "scenario":
            from mfp_sim.tools.scenario import main as scenario_main

            return scenario_main(args.file, args.console, args.testbed, args.timeout)
        runner = {"device": _device, "testbed": _testbed, "demo": _demo}[args.command]
        asyncio.run(runner(args))
    except (FirmwareError, HwsimError, TestbedError) as exc:
        print(f"mfp-sim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
