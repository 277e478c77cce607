"""The fleet's line to the bench's control API (docs/testbed.md: Control API), over HTTPS.

The coordinator arms faults, revokes accounts, reads the counters and moves a virtual clock;
each shard sends its devices' user codes to be approved, many per request (`approve_all`),
as the person at each device would type them on the verification page. The bench's CA comes
as PEM text, so a shard on another machine needs no file from this one.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import aiohttp

from .errors import BenchControlError, FleetSetupError

__all__ = ["BenchLink"]

#: Approvals per request (the control API takes at most 10,000).
APPROVALS_PER_REQUEST = 2000


class BenchLink:
    def __init__(self, control_url: str, ca_pem: str, *, timeout: float = 60.0) -> None:
        self.control_url = control_url.rstrip("/")
        self._ssl = ssl.create_default_context(cadata=ca_pem)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(ssl=self._ssl, limit=4))
        url = f"{self.control_url}/{path}"
        self.requests += 1
        try:
            async with self._session.request(method, url, json=body) as response:
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise FleetSetupError(f"the bench's control API at {url} did not answer: "
                                  f"{type(exc).__name__}: {exc}") from exc
        if response.status >= 400:
            if isinstance(answer, dict):
                raise BenchControlError(str(answer.get("error", response.status)),
                                        str(answer.get("message", "")))
            raise BenchControlError(str(response.status), str(answer)[:200])
        return answer

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ commands
    async def add_accounts(self, pattern: str, count: int) -> None:
        await self._call("POST", "accounts", {"pattern": pattern, "count": count})

    async def approve_all(self, approvals: Iterable[tuple[str, str]]) -> tuple[int, list[dict[str, str]]]:
        """Approve (user code, account) pairs; returns (approved, refusals)."""
        pairs = list(approvals)
        approved, refused = 0, []
        for start in range(0, len(pairs), APPROVALS_PER_REQUEST):
            chunk = pairs[start:start + APPROVALS_PER_REQUEST]
            answer = await self._call("POST", "approve_all", {"approvals": [
                {"user_code": code, "username": account} for code, account in chunk]})
            approved += len(answer.get("approved", []))
            refused += list(answer.get("refused", []))
        return approved, refused

    async def revoke(self, username: str) -> int:
        return int((await self._call("POST", "revoke", {"username": username}))["grants"])

    async def arm(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict((await self._call("POST", "fault", body))["armed"])

    async def disarm(self, name: str) -> int:
        return int((await self._call("DELETE", "fault", {"name": name}))["disarmed"])

    async def stats(self) -> dict[str, Any]:
        return dict(await self._call("GET", "stats"))

    async def reset_stats(self) -> dict[str, Any]:
        return dict(await self._call("POST", "stats/reset"))

    async def clock(self) -> dict[str, Any]:
        return dict(await self._call("GET", "clock"))

    async def advance(self, seconds: float) -> float:
        return float((await self._call("POST", "clock", {"advance": seconds}))["now"])

    async def configure(self, knobs: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._call("POST", "config", knobs))
