"""The `mfp-sim` command: the bench, a headless device, the demo, the benchmark.

    mfp-sim testbed --state DIR [--idp-profile entra|keycloak|google|generic]
                    [--idp-knob NAME=VALUE]... [--mail-certificate trusted|wrong_host|untrusted_ca]
                    [--clock real|virtual] [--host ADDRESS]
    mfp-sim device --nvram DIR [--keystore DIR] [--testbed FILE] [--console tcp:HOST:PORT|pty]
                   [--clock real|virtual] [--ca FILE]... [--providers FILE]
                   [--web tcp:HOST:PORT [--web-http PORT] [--web-name NAME]...
                    [--web-cert FILE [--web-key FILE]]]
    mfp-sim demo [--state DIR] [--headless] [--no-web]
    mfp-sim scenario FILE... --console URL [--testbed FILE] [--approver CMD] [--junit-xml OUT]
    mfp-sim bench [--quick|--smoke] [--json FILE] [--only NAME...]
    mfp-sim fleet --devices N (--testbed FILE | --providers FILE) [--profile FILE] [--events FILE]
                  [--clock real|virtual] [--duration D] [--report DIR] [--processes P] [--ray ADDR]

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


def _console_spec(text: str) -> tuple[str, str, int]:
    if text == "pty":
        return ("pty", "", 0)
    rest = text.removeprefix("socket://") if text.startswith("socket://") else None
    if rest is None:
        kind, _, rest = text.partition(":")
        rest = rest if kind == "tcp" else ""
    host, _, port = rest.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use tcp:HOST:PORT or socket://HOST:PORT (PORT 0 lets the system choose) "
            "or pty")
    return ("tcp", host, int(port))


def _web_spec(text: str) -> tuple[str, str, int]:
    spec = _console_spec(text)
    if spec[0] != "tcp":
        raise argparse.ArgumentTypeError(f"{text!r}: use tcp:HOST:PORT")
    return spec


#: What protects each face when it is bound beyond loopback (said in the warning).
_GUARDS = {
    "console": "every connection must log in with the administrator password first "
               "(login <password>)",
    "web page": "it is served over HTTPS only (plain HTTP, if asked for, only redirects) and "
                "every page asks for the administrator password",
}


def _warn_if_reachable(what: str, host: str) -> None:
    from mfp_sim.firmware.access import is_loopback

    if not is_loopback(host):
        print(f"mfp-sim: warning: the {what} on {host} is reachable beyond this machine; "
              f"{_GUARDS[what]}", file=sys.stderr, flush=True)


def _stop_signal() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM; installed before `ready=1` is printed, so a script
    that stops the process as soon as it is ready always gets a clean shutdown."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def start_console(shell: Any, spec: tuple[str, str, int]) -> Any:
    """The device's console on a pty or a TCP port; beyond loopback each connection logs in."""
    from mfp_sim.hwsim.uart import PtyConsole, TcpConsole

    if spec[0] == "pty":
        pty = PtyConsole(shell.open)
        await pty.start()
        return pty
    _warn_if_reachable("console", spec[1])
    tcp = TcpConsole(shell.sessions_for(spec[1]), spec[1], spec[2])
    await tcp.start()
    return tcp


async def _device(args: argparse.Namespace) -> None:
    from mfp_sim.hwsim.clock import RealClock, VirtualClock
    from mfp_sim.tools.device_builder import build_device
    from mfp_sim.tools.testbed_file import load_testbed

    info = load_testbed(Path(args.testbed)) if args.testbed else None
    clock = VirtualClock() if args.clock == "virtual" else RealClock()
    device = build_device(Path(args.nvram), clock, testbed=info,
                          ca_files=[Path(c) for c in args.ca or []],
                          providers_file=Path(args.providers) if args.providers else None,
                          keystore_dir=Path(args.keystore) if args.keystore else None)
    await device.start()
    console = await start_console(device.shell, args.console)
    print(f"console={console.address}", flush=True)
    web = None
    if args.web is not None:
        _warn_if_reachable("web page", args.web[1])
        from mfp_sim.firmware.web import WebConfig
        from mfp_sim.tools.device_web import start_device_web

        web = await start_device_web(
            device, WebConfig(args.web[1], args.web[2], args.web_http), names=args.web_name or (),
            cert_file=Path(args.web_cert) if args.web_cert else None,
            key_file=Path(args.web_key) if args.web_key else None)
        print(f"web={web.url}", flush=True)
        if web.http_url:
            print(f"web_http={web.http_url}", flush=True)
    print(f"nvram={Path(args.nvram).resolve()}", flush=True)
    print(f"keystore={device.keystore.path.parent}", flush=True)
    stop = _stop_signal()
    print("ready=1", flush=True)
    try:
        await stop.wait()
    finally:
        if web is not None:
            await web.stop()
        await console.stop()
        await device.stop()


def _knob(text: str) -> tuple[str, Any]:
    """``NAME=VALUE``; VALUE is read as JSON (``30``, ``null``, ``true``), else as a string."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: use NAME=VALUE, e.g. access_token_lifetime=30")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


async def _testbed(args: argparse.Namespace) -> None:
    from mfp_sim.hwsim.clock import RealClock, VirtualClock
    from mfp_sim.tools.idp import IdpPolicy
    from mfp_sim.tools.testbed import Testbed
    from mfp_sim.tools.testbed_file import TestbedError

    profile = args.idp_profile or {"microsoft": "entra", "google": "google"}.get(args.policy, "entra")
    try:
        policy = IdpPolicy.for_profile(profile).with_knobs(dict(args.idp_knob or []))
    except ValueError as exc:
        raise TestbedError(str(exc)) from None
    clock = VirtualClock() if args.clock == "virtual" else RealClock()
    bench = Testbed(Path(args.state), clock, policy=policy, host=args.host,
                    mail_certificate=args.mail_certificate)
    info = await bench.start()
    from mfp_sim.firmware.access import is_loopback

    if not is_loopback(args.host):
        print(f"warning: the bench's control API {info['control_url']} has no login and is "
              f"reachable from the network at {args.host}: use this on a lab network only",
              file=sys.stderr, flush=True)
    print(json.dumps(info, indent=2), flush=True)
    for name, port in info["ports"].items():
        print(f"port_{name}={port}", flush=True)
    if "maildir_root" in info:
        print(f"maildir_root={info['maildir_root']}", flush=True)
    print(f"testbed={bench.json_path.resolve()}", flush=True)
    stop = _stop_signal()
    print("ready=1", flush=True)
    try:
        await stop.wait()
    finally:
        await bench.stop()


async def _demo(args: argparse.Namespace) -> None:
    from mfp_sim.tools.demo import run_demo

    await run_demo(Path(args.state), headless=args.headless, web=not args.no_web)


def _bench(args: argparse.Namespace) -> int:
    from mfp_sim.tools.benchmark import main as bench_main
    from mfp_sim.tools.benchmark.servers import BenchError

    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    try:
        return bench_main(mode, Path(args.json) if args.json else None, args.only)
    except BenchError as exc:
        print(f"mfp-sim bench: error: {exc}", file=sys.stderr)
        return 2


_RAW = argparse.RawDescriptionHelpFormatter

_MAIN_EPILOG = """\
examples:
  mfp-sim demo          bench + device + panel, offline (what make demo runs)
  mfp-sim testbed --state state/bench
                        the bench alone; then, in another terminal, a device:
  mfp-sim device --nvram state/dev --testbed state/bench/testbed.json

Each command has its own --help, e.g. mfp-sim demo --help.
Docs: README.md, docs/panel.md, docs/shell.md, docs/testbed.md.
"""

_TESTBED_EPILOG = """\
examples:
  mfp-sim testbed --state state/bench
  mfp-sim testbed --state state/bench --idp-profile google
  mfp-sim testbed --state state/bench --idp-knob access_token_lifetime=30

Prints testbed.json, port_<service>=PORT lines and ready=1; runs until Ctrl-C.
"""

_DEVICE_EPILOG = """\
examples:
  mfp-sim device --nvram state/dev --testbed state/bench/testbed.json
  mfp-sim device --nvram state/dev --console pty --clock virtual
  mfp-sim device --nvram state/dev --ca corp-ca.pem --providers mine.toml

Prints console=..., nvram=... and ready=1, then runs until Ctrl-C.
The console's commands: docs/shell.md.
"""

_DEMO_EPILOG = """\
examples:
  mfp-sim demo                      the panel in this terminal (Ctrl+Q quits)
  mfp-sim demo --headless           no panel: prints the console address
  mfp-sim -v demo --state /tmp/d    another state folder, DEBUG in its demo.log

The log goes to STATE/demo.log (INFO and up; DEBUG with -v).
The panel's keys are on its bottom line and in docs/panel.md.
"""

_SCENARIO_EPILOG = """\
examples:
  mfp-sim scenario tests/scenarios/get_token.scn \\
      --console tcp:127.0.0.1:4000 \\
      --testbed state/bench/testbed.json --junit-xml report.xml
  mfp-sim scenario my.scn --console /dev/pts/5 --timeout 30 \\
      --approver 'python3 approve.py {user_code} {account}'
  mfp-sim scenario --library --console tcp:127.0.0.1:4000 \\
      --testbed state/bench/testbed.json

Exit status 0 when every step passed, 1 when one failed, 2 when a file
could not run (docs/hil.md: Scenario files).
"""


_BENCH_EPILOG = """\
examples:
  mfp-sim bench              the full measurement (`make bench`; ten minutes)
  mfp-sim bench --quick      fewer repetitions, for a first look
  mfp-sim bench --only send drain --json out.json
                             two sections; every figure also as JSON

docs/bench.md explains each figure and its target.
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mfp-sim", description="MFP firmware simulator and its bench",
                                epilog=_MAIN_EPILOG, formatter_class=_RAW)
    p.add_argument("-v", "--verbose", action="store_true",
                   help="log debug messages (to the terminal; the demo also to its demo.log)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           help="what to run; each command has its own --help")

    t = sub.add_parser("testbed", help="run the bench: identity provider and mail server",
                       description="Run the bench: the local identity provider (device flow)\n"
                       "and the SMTP/POP3 mail server, on 127.0.0.1, ports chosen by the system.",
                       epilog=_TESTBED_EPILOG, formatter_class=_RAW)
    t.add_argument("--state", required=True, help="folder for testbed.json, the CA and the Maildirs")
    t.add_argument("--idp-profile", choices=["entra", "keycloak", "google", "generic"],
                   default=None, help="which identity provider to imitate (default entra)")
    t.add_argument("--policy", choices=["microsoft", "google"], default=None,
                   help="old name of --idp-profile: microsoft = entra, google = google")
    t.add_argument("--idp-knob", action="append", type=_knob, metavar="NAME=VALUE",
                   help="set a profile knob at start, e.g. access_token_lifetime=30 "
                        "(docs/testbed.md: Profiles); repeatable")
    t.add_argument("--mail-certificate", choices=["trusted", "wrong_host", "untrusted_ca"],
                   default="trusted", help="certificate the mail server shows (default trusted)")
    t.add_argument("--host", default="127.0.0.1",
                   help="address to serve on (default 127.0.0.1); another machine's address "
                   "lets devices elsewhere reach the bench (a fleet on several machines), and "
                   "exposes its control API, which has no login, to that network")
    t.add_argument("--clock", choices=["real", "virtual"], default="real",
                   help="real time (default), or a virtual clock that POST /control/clock "
                   "advances (a virtual-clock fleet in other processes)")

    d = sub.add_parser("device", help="run a headless device with its serial console",
                       description="Run one device without a panel; drive it over its serial\n"
                       "console (TCP or a pseudo-terminal).",
                       epilog=_DEVICE_EPILOG, formatter_class=_RAW)
    d.add_argument("--nvram", required=True, help="the device's non-volatile memory folder")
    d.add_argument("--keystore", help="folder of the device key, apart from the NVRAM folder "
                   "(default: beside it, NVRAM-FOLDER.keystore)")
    d.add_argument("--testbed", help="testbed.json of a running bench (adds provider 'local')")
    d.add_argument("--console", type=_console_spec, default=("tcp", "127.0.0.1", 0),
                   help="tcp:HOST:PORT, socket://HOST:PORT or pty (default tcp:127.0.0.1:0); "
                        "beyond loopback every connection must log in")
    d.add_argument("--web", type=_web_spec, default=None,
                   help="serve the device web page over HTTPS on tcp:HOST:PORT (PORT 0: "
                   "system's choice; HOST 127.0.0.1 keeps it off the network)")
    d.add_argument("--web-http", type=int, default=None, metavar="PORT",
                   help="also listen for plain HTTP on PORT of --web's host (0: system's "
                   "choice), only to redirect to HTTPS")
    d.add_argument("--web-name", action="append", metavar="NAME",
                   help="a host name or IP the web certificate is made for; repeatable, the "
                   "first is its common name (default 127.0.0.1 and localhost)")
    d.add_argument("--web-cert", metavar="FILE",
                   help="web certificate (PEM) issued elsewhere; with --web-key unless it was "
                   "issued for the device's own key")
    d.add_argument("--web-key", metavar="FILE", help="the private key (PEM) of --web-cert")
    d.add_argument("--clock", choices=["real", "virtual"], default="real",
                   help="real time (default), or a virtual clock that the console's `clock "
                   "advance` moves")
    d.add_argument("--ca", action="append", help="import a CA certificate (PEM); repeatable")
    d.add_argument("--providers", help="TOML file adding or overriding providers")

    m = sub.add_parser("demo", help="bench + device + front panel in one process",
                       description="The bench, one device and its front panel in one process, "
                       "offline.\nOn the first start SMTP is set up for the bench's account, so "
                       "Get Token works\nat once.",
                       epilog=_DEMO_EPILOG, formatter_class=_RAW)
    m.add_argument("--state", default="state/demo",
                   help="folder for the demo's state: device memory, bench, demo.json, demo.log "
                   "(default state/demo)")
    m.add_argument("--headless", action="store_true", help="no panel: console only")
    m.add_argument("--no-web", action="store_true",
                   help="do not start the device's web page (HTTPS, started by default)")

    s = sub.add_parser("scenario", help="run a scenario file against a device's console",
                       description="Run a scenario file (commands and expected replies) against "
                       "a running\ndevice's console.",
                       epilog=_SCENARIO_EPILOG, formatter_class=_RAW)
    s.add_argument("files", nargs="*", metavar="FILE",
                   help="scenario files, run in order (docs/hil.md: Scenario files)")
    s.add_argument("--library", action="store_true",
                   help="also run every file of the scenario library shipped with mfp-sim")
    s.add_argument("--list", action="store_true",
                   help="print the library's files (to copy them) and exit")
    s.add_argument("--console", help="tcp:HOST:PORT, socket://HOST:PORT, /dev/pts/N or a serial port")
    s.add_argument("--password", help="administrator password, sent with login on connecting "
                   "(a console reachable from the network needs it)")
    s.add_argument("--testbed", help="testbed.json, for bench actions (approve, revoke, fault, ...)")
    s.add_argument("--approver", metavar="CMD",
                   help="the site's approver command for '! approve', e.g. "
                        "'python3 approve.py {user_code} {account} {verification_uri}'")
    s.add_argument("--approver-timeout", type=float, default=120.0,
                   help="seconds the approver may take (default 120)")
    s.add_argument("--var", action="append", metavar="NAME=VALUE",
                   help="give {NAME} a value (over the file's '! default'); repeatable")
    s.add_argument("--junit-xml", metavar="OUT", help="write a JUnit XML report to OUT")
    s.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for each reply")

    b = sub.add_parser("bench", help="measure speed and memory; prints a table",
                       description="Measure speed and memory (mail, tokens, start-up, memory, "
                       "NVRAM, the panel)\nwith the bench's servers in their own process and "
                       "print a table with each\nfigure's goal.",
                       epilog=_BENCH_EPILOG, formatter_class=_RAW)
    size = b.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer repetitions, smaller counts")
    size.add_argument("--smoke", action="store_true",
                      help="tiny counts: checks that every measurement runs; figures meaningless")
    b.add_argument("--json", metavar="FILE",
                   help="also write every figure as JSON: [{name, value, unit, goal, met, ...}]")
    b.add_argument("--only", nargs="+", metavar="NAME",
                   help="run these sections only: send drain token startup memory backlog "
                        "history panel web")

    from mfp_sim.tools.fleet.options import add_parser as add_fleet  # argparse only

    add_fleet(sub, _RAW)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from mfp_sim.firmware.errors import FirmwareError
    from mfp_sim.hwsim.errors import HwsimError
    from mfp_sim.tools.testbed_file import TestbedError

    try:
        if args.command == "bench":
            return _bench(args)
        if args.command == "fleet":
            from mfp_sim.tools.fleet.command import run as fleet_run

            return fleet_run(args)
        if args.command == "scenario":
            from mfp_sim.tools.scenario.command import from_arguments

            return from_arguments(args)
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
