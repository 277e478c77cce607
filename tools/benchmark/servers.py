"""The bench's servers in their own process, and how the benchmark talks to them.

`BenchServers` runs `mfp-sim testbed` (identity provider, SMTP, POP3 on the real clock) as a
child process, so no client measured against it shares an interpreter, a GIL or an event loop
with the servers. Everything else here is what the harness does *around* a measurement:
approving a device code through the IdP's control API (as a script plays the user), getting a
plain access token for the stdlib and floor clients (the device-code grant by hand, RFC 8628),
and filling or emptying a mailbox by writing its Maildir directly (untimed set-up).
"""

from __future__ import annotations

import json
import mailbox
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .measure import process_cpu

__all__ = ["BenchError", "BenchServers", "Control", "mfp_sim_command"]

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class BenchError(Exception):
    """A benchmark step failed (not a slow figure: something did not work)."""


def mfp_sim_command() -> list[str]:
    """The `mfp-sim` command of this environment, as a person runs it."""
    script = Path(sys.executable).parent / "mfp-sim"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "mfp_sim.tools.cli"]


class Control:
    """HTTPS calls to the bench IdP from a script: control API and the token endpoints.

    urllib with a context that trusts the bench CA only, and no proxy (the environment's proxy
    settings must not route 127.0.0.1 elsewhere).
    """

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        ctx = ssl.create_default_context(cafile=str(info["ca_file"]))
        self._open = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                 urllib.request.HTTPSHandler(context=ctx)).open

    def _post(self, url: str, data: bytes, content_type: str) -> dict[str, Any]:
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": content_type})
        try:
            with self._open(request, timeout=30) as reply:
                body: dict[str, Any] = json.loads(reply.read())
                return body
        except urllib.error.HTTPError as exc:
            raise BenchError(f"{url}: HTTP {exc.code}: {exc.read()[:300]!r}") from None

    def command(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._post(f"{self.info['control_url']}/{name}", json.dumps(body).encode(),
                          "application/json")

    def approve(self, user_code: str, username: str) -> None:
        """The person signs in and approves the code at once."""
        self.command("approve", {"user_code": user_code, "username": username})

    def access_token(self, username: str, kind: str) -> str:
        """An access token for `username`, scope `smtp` or `pop`, by the device-code grant."""
        scopes = " ".join([*self.info["scopes"][kind], "offline_access", "openid", "profile"])
        issuer = self.info["issuer"]
        form = urllib.parse.urlencode({"client_id": self.info["client_id"], "scope": scopes})
        flow = self._post(f"{issuer}/oauth2/v2.0/devicecode", form.encode(),
                          "application/x-www-form-urlencoded")
        self.approve(flow["user_code"], username)
        form = urllib.parse.urlencode({"client_id": self.info["client_id"],
                                       "grant_type": DEVICE_CODE_GRANT,
                                       "device_code": flow["device_code"]})
        token = self._post(f"{issuer}/oauth2/v2.0/token", form.encode(),
                           "application/x-www-form-urlencoded")
        if "access_token" not in token:
            raise BenchError(f"no access token from the bench IdP: {token.get('error')}")
        return str(token["access_token"])


class BenchServers:
    """`mfp-sim testbed --state DIR` as a child process; stop() ends it."""

    START_TIMEOUT = 60.0

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self._proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    @property
    def json_path(self) -> Path:
        return self.state_dir / "testbed.json"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise BenchError("the bench servers are not running")
        return self._proc.pid

    def start(self) -> dict[str, Any]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        out, err = self.state_dir / "testbed.out", self.state_dir / "testbed.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            self._proc = subprocess.Popen(
                [*mfp_sim_command(), "testbed", "--state", str(self.state_dir)],
                stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.START_TIMEOUT
        while b"ready=1" not in out.read_bytes():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchError("mfp-sim testbed did not start: "
                                 + err.read_text(errors="replace")[-800:])
            time.sleep(0.05)
        self.info = json.loads(self.json_path.read_text(encoding="utf-8"))
        return self.info

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)

    def cpu_seconds(self) -> float:
        return process_cpu(self.pid)

    def control(self) -> Control:
        return Control(self.info)

    # ------------------------------------------------------------ mailboxes
    def _maildir(self, address: str) -> Path:
        return Path(self.info["maildir_root"]) / address.lower()

    def fill(self, address: str, messages: list[bytes]) -> None:
        """Deliver straight into the Maildir, as the server stores mail (LF line ends)."""
        box = mailbox.Maildir(self._maildir(address), create=True)
        for raw in messages:
            lf = raw.replace(b"\r\n", b"\n")
            box.add(lf if lf.endswith(b"\n") else lf + b"\n")

    def count(self, address: str) -> int:
        folder = self._maildir(address)
        return sum(len(os.listdir(folder / sub)) for sub in ("new", "cur")
                   if (folder / sub).is_dir())

    def empty(self, address: str) -> None:
        folder = self._maildir(address)
        for sub in ("new", "cur"):
            if (folder / sub).is_dir():
                for name in os.listdir(folder / sub):
                    (folder / sub / name).unlink(missing_ok=True)
