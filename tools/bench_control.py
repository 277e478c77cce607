"""A client of a running bench's control API, for scripts, scenario files and pytest.

`mfp-sim testbed` writes `testbed.json`; this client reads it and speaks to `control_url`
(docs/testbed.md, Control API) with the bench's own CA. It exists so that nobody writes bench
approval by hand and falls into the environment trap: this machine (and many CI runners) sets
`REQUESTS_CA_BUNDLE`, which overrides `verify=` in requests, so a plain `requests.post(...,
verify=ca)` fails with a certificate error. The session here has `trust_env=False`.

    bench = BenchControl.from_file("state/bench/testbed.json")
    bench.approve("GH5LFQ7WZ", "alice@example.test")
    bench.fault("token_revoked", username="alice@example.test", count=1)
    bench.stats()["idp"]["token"]["by_outcome"]

Errors the bench answers (400, 404, 405) raise `BenchControlError` with its `error` and
`message` (which says what is allowed); a bench that does not answer raises it too.
"""

from __future__ import annotations

import mailbox
import re
from collections.abc import Mapping
from email.message import Message
from pathlib import Path
from typing import Any

import requests

from .testbed_file import load_testbed

__all__ = ["BenchControl", "BenchControlError"]

#: The mail server's Maildir keys, "1800000000.M123456P4242Q17.host" (time, microseconds,
#: process, counter): sorted by their numbers they give the delivery order (as strings they
#: do not: Q10 would come before Q9). tools/mailserver/maildir.py writes them.
_KEY = re.compile(r"^(\d+)\.M(\d+)P(\d+)Q(\d+)\.")


def _delivery_order(key: str) -> tuple[int, ...]:
    m = _KEY.match(key)
    return tuple(int(g) for g in m.groups()) if m else (2**63,)


class BenchControlError(Exception):
    """The bench refused a control request, or could not be reached."""

    def __init__(self, message: str, *, status: int = 0, error: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = error


class BenchControl:
    """The control API of one bench, described by its `testbed.json` contents."""

    def __init__(self, info: Mapping[str, Any], *, timeout: float = 15.0) -> None:
        for key in ("control_url", "ca_file"):
            if key not in info:
                raise BenchControlError(f"testbed.json lacks {key!r}: is it one `mfp-sim testbed` "
                                        "wrote?")
        self.info = dict(info)
        self.path: Path | None = None  # the testbed.json it was read from, if any
        self.timeout = timeout
        self._session = requests.Session()
        self._session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=
        self._session.verify = str(info["ca_file"])

    @classmethod
    def from_file(cls, path: str | Path, *, timeout: float = 15.0) -> BenchControl:
        bench = cls(load_testbed(Path(path)), timeout=timeout)
        bench.path = Path(path)
        return bench

    @property
    def control_url(self) -> str:
        return str(self.info["control_url"])

    def close(self) -> None:
        self._session.close()

    def call(self, method: str, command: str, body: Mapping[str, Any] | None = None) -> Any:
        """One control request; the decoded JSON answer, or `BenchControlError`."""
        url = f"{self.control_url}/{command}"
        try:
            answer = self._session.request(method, url, json=dict(body) if body is not None else None,
                                           timeout=self.timeout)
        except requests.RequestException as exc:
            raise BenchControlError(f"the bench at {self.control_url} did not answer "
                                    f"{method} /{command}: {exc}") from None
        try:
            data = answer.json()
        except ValueError:
            data = {}
        if answer.status_code != 200:
            error = data.get("error", "") if isinstance(data, dict) else ""
            message = data.get("message", answer.text.strip()) if isinstance(data, dict) else ""
            raise BenchControlError(f"the bench refused {method} /{command}: "
                                    f"{error or answer.status_code}: {message}",
                                    status=answer.status_code, error=error)
        return data

    # ---------------------------------------------------------------- the person and the admin
    def approve(self, user_code: str, username: str) -> dict[str, Any]:
        return dict(self.call("POST", "approve", {"user_code": user_code, "username": username}))

    def deny(self, user_code: str) -> dict[str, Any]:
        return dict(self.call("POST", "deny", {"user_code": user_code}))

    def revoke(self, username: str) -> dict[str, Any]:
        return dict(self.call("POST", "revoke", {"username": username}))

    def disable(self, username: str) -> dict[str, Any]:
        return dict(self.call("POST", "disable", {"username": username}))

    def enable(self, username: str) -> dict[str, Any]:
        return dict(self.call("POST", "enable", {"username": username}))

    def slow_down(self, count: int) -> dict[str, Any]:
        return dict(self.call("POST", "slow_down", {"count": count}))

    def pending(self) -> list[str]:
        return list(self.call("GET", "pending")["pending"])

    # ---------------------------------------------------------------- breaking things on purpose
    def fault(self, name: str, **fields: Any) -> dict[str, Any]:
        """Arm a catalogue entry (docs/faults.md): `username=`, `count=`, `phases=[…]`, options."""
        return dict(self.call("POST", "fault", {"name": name, **fields})["armed"])

    def disarm(self, name: str | None = None) -> int:
        """Disarm one entry, or every armed one; how many were disarmed."""
        return int(self.call("DELETE", "fault", {"name": name} if name else None)["disarmed"])

    def faults(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "faults")["faults"])

    def config(self, **knobs: Any) -> dict[str, Any]:
        """The profile and its knobs; with keyword arguments, change them first."""
        if knobs:
            return dict(self.call("POST", "config", knobs))
        return dict(self.call("GET", "config"))

    def stats(self) -> dict[str, Any]:
        return dict(self.call("GET", "stats"))

    def reset_stats(self) -> dict[str, Any]:
        return dict(self.call("POST", "stats/reset"))

    # ---------------------------------------------------------------- what landed
    def mailbox(self, address: str) -> list[Message]:
        """The messages the bench's mail server holds for `address` (read from its Maildir,
        on this machine), in the order they were delivered."""
        root = self.info.get("maildir_root")
        if not root:
            raise BenchControlError("this bench runs no mail server (no maildir_root)")
        folder = Path(root) / address.strip().strip("<>").lower()
        if not folder.is_dir():
            return []
        box = mailbox.Maildir(folder, create=False)
        return [box[key] for key in sorted(box.keys(), key=_delivery_order)]
