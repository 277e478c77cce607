"""What the device did to the bench's servers, counted: ``GET {control_url}/stats``.

One `BenchStats` per bench, shared like the fault board: the identity provider counts
device-authorization and token requests (by grant type, user and outcome), the mail server
counts sessions and AUTH attempts (by mechanism, result, reason and user). A script reads the
counts to check how often a device refreshed, or that it did not send a password in clear;
``POST {control_url}/stats/reset`` starts again from zero. Nothing secret is ever counted by
value: users are account names, outcomes are error names.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

__all__ = ["UNKNOWN_USER", "BenchStats", "grant_name"]

#: The user a request is counted under when it names none (a poll not yet approved).
UNKNOWN_USER = "(unknown)"
#: Past this many distinct names (a client may send any name), new ones count as OTHER_USERS.
MAX_USERS = 1000
OTHER_USERS = "(others)"

_GRANT_NAMES = {"urn:ietf:params:oauth:grant-type:device_code": "device_code"}


def grant_name(grant_type: str) -> str:
    """``urn:ietf:params:oauth:grant-type:device_code`` → ``device_code``; others as sent."""
    return _GRANT_NAMES.get(grant_type, grant_type or "(none)")


class _Requests:
    """Counts of one kind of request: total, by a kind, by outcome, by user and kind."""

    def __init__(self) -> None:
        self.total = 0
        self.by_kind: Counter[str] = Counter()
        self.by_outcome: Counter[str] = Counter()
        self.by_user: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def add(self, kind: str, user: str | None, outcome: str) -> None:
        self.total += 1
        self.by_kind[kind] += 1
        self.by_outcome[outcome] += 1
        name = user.lower() if user else UNKNOWN_USER
        if name not in self.by_user and len(self.by_user) >= MAX_USERS:
            name = OTHER_USERS  # memory stays bounded whatever names clients send
        self.by_user[name][kind] += 1

    def as_json(self, kind_name: str) -> dict[str, Any]:
        return {"total": self.total, kind_name: dict(self.by_kind),
                "by_outcome": dict(self.by_outcome),
                "by_user": {u: dict(c) for u, c in sorted(self.by_user.items())}}


class _MailCounts:
    def __init__(self) -> None:
        self.sessions = 0
        self.auth = _Requests()
        self.by_reason: Counter[str] = Counter()

    def as_json(self) -> dict[str, Any]:
        auth = self.auth.as_json("by_mechanism")
        auth["by_result"] = auth.pop("by_outcome")
        auth["by_reason"] = dict(self.by_reason)
        return {"sessions": self.sessions, "auth": auth}


class BenchStats:
    """Counters for one bench; `now` stamps the last reset (bench clock)."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self.reset()

    def reset(self) -> None:
        self.since = self._now()
        self._device_authorization = _Requests()
        self._token = _Requests()
        self._faults: Counter[str] = Counter()
        self._mail = {"smtp": _MailCounts(), "pop3": _MailCounts()}

    # ---- identity provider ------------------------------------------------------------------
    def device_authorization(self, outcome: str) -> None:
        self._device_authorization.add("device_code", None, outcome)

    def token_request(self, grant_type: str, user: str | None, outcome: str) -> None:
        self._token.add(grant_name(grant_type), user, outcome)

    def fault_fired(self, name: str) -> None:
        self._faults[name] += 1

    # ---- mail server ------------------------------------------------------------------------
    def mail_session(self, protocol: str) -> None:
        self._mail[protocol].sessions += 1

    def mail_auth(self, protocol: str, mechanism: str, user: str, ok: bool, reason: str) -> None:
        counts = self._mail[protocol]
        counts.auth.add(mechanism, user or None, "ok" if ok else "refused")
        counts.by_reason[reason] += 1

    # ---- reading ------------------------------------------------------------------------------
    def token_requests(self, grant_type: str | None = None, user: str | None = None) -> int:
        """How many token requests (of one grant type, by one user): for tests and scripts."""
        if user is not None:
            per_user = self._token.by_user.get(user.lower(), Counter())
            return sum(per_user.values()) if grant_type is None else per_user[grant_type]
        return self._token.total if grant_type is None else self._token.by_kind[grant_type]

    def snapshot(self) -> dict[str, Any]:
        device = self._device_authorization.as_json("by_kind")
        return {
            "since": self.since,
            "idp": {
                "device_authorization": {"total": device["total"],
                                         "by_outcome": device["by_outcome"]},
                "token": self._token.as_json("by_grant_type"),
                "faults_fired": dict(self._faults),
            },
            "smtp": self._mail["smtp"].as_json(),
            "pop3": self._mail["pop3"].as_json(),
        }
