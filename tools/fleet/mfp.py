"""One MFP of the fleet: its number, folder and accounts, and its `Device` while it has power.

The device is the real firmware, built the one way tools build a device
(`tools.device_builder`), set up and driven only through its command API (`device.api`) as an
administrator at its panel would: choose the provider and account, Get Token, enable the POP
settings. Everything it does runs in its own `contextvars.Context` (`DEVICE` = its number),
which every task it starts inherits, so the shard's network knows whose request it carries.

What the device says (its events) is added up in the shard's `Tally`: token states, jobs,
what it printed, its alerts. Nothing here keeps state the device does not show.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.errors import FirmwareError
from mfp_sim.firmware.events import Alert, JobChanged, Printed, Refused, TokenChanged
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.firmware.vocabulary import JobState
from mfp_sim.tools.site_approver import ApprovalRequest

from .network import Network
from .profile import FleetProfile

__all__ = ["FleetMfp", "Tally", "WORST_FIRST"]

T = TypeVar("T")

#: A device's state is its worst token's: the order a person would look at them in.
WORST_FIRST = ("invalid", "not_retrieved", "waiting", "retrieved")
_SMTP_CODE = re.compile(r"\b([45]\d\d[ -][245]\.\d{1,3}\.\d{1,3})\b")
_POP_CODE = re.compile(r"-ERR\s+(\[[A-Z/-]+\])")


@dataclass
class Tally:
    """What the shard's devices said, added up (cumulative)."""

    obtained: int = 0  # waiting → retrieved
    refreshed: int = 0
    invalidated: int = 0  # → invalid
    flows_failed: int = 0  # waiting → not retrieved
    get_token_refused: int = 0  # Get Token itself refused (provider unreachable, throttled)
    jobs: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    alerts: Counter[str] = field(default_factory=Counter)
    alert_codes: Counter[str] = field(default_factory=Counter)
    job_failures: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        return {"tokens": {"obtained": self.obtained, "refreshed": self.refreshed,
                           "invalidated": self.invalidated, "flows_failed": self.flows_failed,
                           "get_token_refused": self.get_token_refused},
                "jobs": dict(self.jobs), "messages": dict(self.messages),
                "alerts": dict(self.alerts), "alert_codes": dict(self.alert_codes),
                "job_failures": dict(self.job_failures)}


class FleetMfp:
    def __init__(self, number: int, total: int, profile: FleetProfile, tally: Tally,
                 network: Network, on_flow_failed: Callable[[FleetMfp, str], None],
                 on_ready: Callable[[FleetMfp], None]) -> None:
        self.number = number
        self.profile = profile
        self.accounts = {s: profile.account(s, number, total) for s in profile.stores}
        self.scan_to = profile.scan_target(number, total)
        self.fax_to = profile.fax_target(number, total)
        self.site = profile.site_of(number, total)
        self.device: Device | None = None
        self.states: dict[str, str] = dict.fromkeys(profile.stores, "not_retrieved")
        self._tally = tally
        self._on_flow_failed = on_flow_failed
        self._on_ready = on_ready
        self.ready = False  # every token Retrieved once: the office may start using it
        self._unlisten: list[Callable[[], None]] = []
        self.context = contextvars.copy_context()
        network.enter(self.context, number)
        self.boots = 0

    @property
    def on(self) -> bool:
        return self.device is not None

    def state(self) -> str:
        """The device's state: off, or its worst token's state."""
        if self.device is None:
            return "off"
        return next((s for s in WORST_FIRST if s in self.states.values()), "retrieved")

    def run(self, work: Awaitable[T]) -> asyncio.Task[T]:
        """Run `work` as the device (its tasks inherit the device's context)."""
        async def as_device() -> T:
            return await work
        return asyncio.get_running_loop().create_task(as_device(), context=self.context)

    # ------------------------------------------------------------------ power
    async def power_on(self, device: Device) -> list[ApprovalRequest]:
        """Start `device` (built on this MFP's folder); set it up on its first boot; press Get
        Token where there is no token. Returns the (user code, account) pairs to approve."""
        self.device = device
        self.boots += 1
        bus = device.events
        self._unlisten = [bus.listen(self._token, TokenChanged), bus.listen(self._job, JobChanged),
                          bus.listen(self._printed, Printed), bus.listen(self._refused, Refused),
                          bus.listen(self._alert, Alert)]
        await device.start()
        for store in self.profile.stores:
            self.states[store] = device.api.token_status(store).state.value
        self._check_ready()
        await self._configure(device)
        codes: list[ApprovalRequest] = []
        for store in self.profile.stores:
            if self.states[store] in ("not_retrieved", "waiting"):
                found = await self.get_token(store)
                if found is not None:
                    codes.append(found)
        return codes

    async def power_off(self) -> None:
        device, self.device = self.device, None
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten = []
        if device is not None:
            device.nvram.cut()  # first: nothing the firmware was about to write gets there
            await device.stop()

    async def _configure(self, device: Device) -> None:
        """What the administrator sets once; after a power cut the device still has it."""
        api = device.api
        pop = set(self.profile.pop_stores)
        for store, account in self.accounts.items():
            wanted = {"provider": self.profile.provider, "account": account, "auth": "oauth2"}
            if store in pop:
                wanted.update(enabled="on", check_interval=str(self.profile.pop_check_interval),
                              leave_copy="on" if self.profile.leave_copy else "off")
            else:
                wanted.update(sender_address=account)
            current = dict(api.settings_items(store))
            changes = {k: v for k, v in wanted.items() if current.get(k) != v}
            if changes:
                await api.update(store, changes)

    async def get_token(self, store: str) -> ApprovalRequest | None:
        """[Get Token] → [OK] on one store: what a person would approve, or None if refused."""
        if self.device is None:
            return None
        try:
            prompt = await self.device.api.get_token(store)
        except FirmwareError:
            self._tally.get_token_refused += 1
            self._on_flow_failed(self, store)
            return None
        return ApprovalRequest(prompt.user_code, self.accounts[store], prompt.verification_uri,
                               store)

    # ------------------------------------------------------------------ jobs
    async def send(self, kind: str) -> None:
        """A person at the device sends a scan or a fax (1 page each by default)."""
        if self.device is None:
            return
        try:
            if kind == "scan":
                await self.device.api.scan_to_email(self.scan_to, self.profile.scan_pages)
            else:
                await self.device.api.ifax_send(self.fax_to, self.profile.fax_pages)
            self._tally.jobs[f"{kind}_submitted"] += 1
        except FirmwareError:
            self._tally.jobs[f"{kind}_refused"] += 1  # refused at the panel (no token yet, …)

    def expired_tokens(self) -> int:
        """Retrieved stores whose access token has run out on the device clock (a device
        holding one cannot send or receive until it renews it)."""
        if self.device is None:
            return 0
        now = self.device.clock.now()
        count = 0
        for store in self.profile.stores:
            if self.states.get(store) != TokenState.RETRIEVED.value:
                continue
            status = self.device.api.token_status(store)
            if status.access_expires_at is not None and status.access_expires_at <= now:
                count += 1
        return count

    def pending_jobs(self) -> int:
        return len(self.pending())

    def pending(self) -> list[str]:
        """The unfinished jobs: state, attempts, next attempt (device clock) and reason."""
        if self.device is None:
            return []
        return [f"job {j.id} {j.state.value} after {j.attempts} attempt(s), next at "
                f"{j.next_attempt_at:.0f}: {j.reason or '-'}" for j in self.device.api.jobs()
                if j.state in (JobState.QUEUED, JobState.SENDING)]

    # ---------------------------------------------------------------- events
    def _token(self, event: TokenChanged) -> None:
        before = self.states.get(event.store)
        after = event.state.value
        if before is None:
            return
        self.states[event.store] = after
        if event.refreshed:
            self._tally.refreshed += 1
        if before == after:
            return
        if after == TokenState.RETRIEVED.value and before == TokenState.WAITING.value:
            self._tally.obtained += 1
        elif after == TokenState.INVALID.value:
            self._tally.invalidated += 1
        elif after == TokenState.NOT_RETRIEVED.value and before == TokenState.WAITING.value:
            self._tally.flows_failed += 1
            self._on_flow_failed(self, event.store)
        self._check_ready()

    def _check_ready(self) -> None:
        if not self.ready and self.state() == "retrieved":
            self.ready = True
            self._on_ready(self)

    def _job(self, event: JobChanged) -> None:
        if event.state in (JobState.SENT, JobState.FAILED):
            self._tally.jobs[event.state.value] += 1
        if event.state is JobState.FAILED:
            code = _SMTP_CODE.search(event.reason)
            self._tally.job_failures[code.group(1) if code else event.reason[:120]] += 1

    def _printed(self, event: Printed) -> None:
        self._tally.messages[f"{event.receive.value}_printed"] += 1

    def _refused(self, event: Refused) -> None:
        self._tally.messages["refused"] += 1

    def _alert(self, event: Alert) -> None:
        self._tally.alerts[f"{event.source}:{event.step.value}"] += 1
        code = _SMTP_CODE.search(event.reason) or _POP_CODE.search(event.reason)
        if code:
            self._tally.alert_codes[f"{event.step.value} {code.group(1)}"] += 1
