"""A shard: many devices of the fleet on one event loop, in one process.

The coordinator hands each shard the numbers of its devices (`ShardSpec`); the shard builds
them on its own folder, with one SQLite file for all their records (`ShardNvram`), one pool of
worker threads for their blocking work and, through the loop, one measuring network
(`Network`). Between the coordinator and the devices it plays the people around them:

- the **administrator**, who sets each device up on its first boot and presses Get Token
  (again, `regain_after` seconds after a flow failed);
- the **users**, who approve each code: the shard sends them to the bench's control API, many
  per request (`approve_all`), unless the profile says someone else approves;
- the **office**, whose scans and faxes arrive at the profile's rates (random, seeded per
  device), on the devices' clock, from the moment a device first has all its tokens (no one
  scans on a device that is still being set up).

With a virtual clock the shard moves only when told (`advance`), then waits until what that
step started is finished (`settle`: nothing in flight on its network, no approval waiting), so
the fleet crosses hours of refreshes and polls in seconds, step by step.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import os
import random
import resource
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mfp_sim.firmware.device import Device
from mfp_sim.hwsim.clock import Clock, RealClock, VirtualClock
from mfp_sim.tools.device_builder import build_device
from mfp_sim.tools.site_approver import ApprovalRequest, ApproverError, SiteApprover

from .admission import ADMIT_DEFAULT, Admission
from .bench_link import BenchLink
from .heap import SHARD_HEAP
from .metrics import Histogram
from .mfp import FleetMfp, Tally
from .network import Network
from .nvram import ShardNvram, provision_key
from .profile import FleetProfile

__all__ = ["Shard", "ShardSpec"]

log = logging.getLogger(__name__)

#: Devices powered on at the same time (each builds, starts and asks for its tokens).
POWER_ON_AT_ONCE = 64
#: Site approver processes running at once per shard.
SITE_APPROVERS_AT_ONCE = 4
#: How often the event-loop lag is probed (real seconds).
LAG_PROBE = 0.05


@dataclass(frozen=True)
class ShardSpec:
    """Everything a shard needs, as plain values (it may be sent to another machine)."""

    index: int
    numbers: tuple[int, ...]
    total: int
    root: str
    profile: FleetProfile
    testbed: dict[str, Any] | None = None
    bench_ca_pem: str = ""
    providers_toml: str | None = None
    ca_pems: tuple[str, ...] = ()
    clock: str = "real"
    clock_start: float = 0.0
    workers: int = 16
    mail_ports: dict[int, str] = field(default_factory=dict)
    #: The site's approver command (profile approve = "site"), tools/site_approver.py.
    approver: str | None = None
    #: Device work the shard starts that runs at once (`admission.py`).
    admit: int = ADMIT_DEFAULT


class Agenda:
    """Things to do at given device-clock times, run by one task sleeping on the clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), action))
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fleet.agenda")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            now = self._clock.now()
            while self._heap and self._heap[0][0] <= now:
                heapq.heappop(self._heap)[2]()
            if not self._heap:
                await self._wake.wait()
                continue
            sleeper = asyncio.ensure_future(self._clock.sleep_until(self._heap[0][0]))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait([sleeper, waker], return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()


class Shard:
    def __init__(self, spec: ShardSpec, clock: Clock | None = None) -> None:
        self.spec = spec
        self.profile = spec.profile
        self.root = Path(spec.root)
        self._given_clock = clock
        self.clock: Clock = clock or RealClock()
        self.tally = Tally()
        self.mfps: dict[int, FleetMfp] = {}
        self._approvals: list[ApprovalRequest] = []
        self._site: SiteApprover | None = None
        self._site_threads: ThreadPoolExecutor | None = None
        self.approvals: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.lag = Histogram()
        self.lag_max = 0.0
        self.settle_timeouts = 0
        self._started_wall = time.perf_counter()
        self._background: list[asyncio.Task[None]] = []
        self._heap_attached = False  # this shard counts among SHARD_HEAP's users
        self.link: BenchLink | None = None
        self.admission = Admission(spec.admit)
        self._round_gates: list[Admission] = []  # rounds under way, with their own limit
        # One thread of its own for the devices' keys: not queued behind the devices' IdP calls.
        self._keys = ThreadPoolExecutor(1, thread_name_prefix="fleet-keys")

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        spec = self.spec
        if self._given_clock is None:
            self.clock = VirtualClock(spec.clock_start) if spec.clock == "virtual" else RealClock()
        _raise_file_limit()
        self.root.mkdir(parents=True, exist_ok=True)
        self._log = _DeviceLog(self.root / "devices.log")
        self.network = Network(self.clock.now, spec.mail_ports)
        self.network.install(asyncio.get_running_loop(), spec.workers)
        self.nvram = ShardNvram(self.root / "nvram")
        self._testbed = dict(spec.testbed) if spec.testbed is not None else None
        if self._testbed is not None and spec.bench_ca_pem:
            ca = self.root / "bench-ca.pem"
            ca.write_text(spec.bench_ca_pem, encoding="ascii")
            self._testbed["ca_file"] = str(ca)
        self._ca_files = []
        for i, pem in enumerate(spec.ca_pems):
            path = self.root / f"ca-{i}.pem"
            path.write_text(pem, encoding="ascii")
            self._ca_files.append(path)
        self._providers = None
        if spec.providers_toml is not None:
            self._providers = self.root / "providers.toml"
            self._providers.write_text(spec.providers_toml, encoding="utf-8")
        if self.profile.approve == "bench" and self._testbed and self._testbed.get("control_url"):
            self.link = BenchLink(str(self._testbed["control_url"]), spec.bench_ca_pem)
        if self.profile.approve == "site" and spec.approver:
            self._site = SiteApprover(spec.approver)
            self._site_threads = ThreadPoolExecutor(SITE_APPROVERS_AT_ONCE,
                                                    thread_name_prefix="fleet-approver")
        for n in spec.numbers:
            self.mfps[n] = FleetMfp(n, spec.total, self.profile, self.tally, self.network,
                                     self._flow_failed, self._plan_jobs)
        self._origin = spec.clock_start if self.clock.virtual else self.clock.now()
        self.agenda = Agenda(self.clock)
        self.agenda.start()
        SHARD_HEAP.attach()
        self._heap_attached = True
        loop = asyncio.get_running_loop()
        self._background.append(loop.create_task(self._probe_lag(), name="fleet.lag"))
        if not self.clock.virtual:
            self._background.append(loop.create_task(self._approve_often(), name="fleet.approve"))

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.agenda.stop()
        await self.power_off([n for n, m in self.mfps.items() if m.on])
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.link is not None:
            await self.link.close()
        if self._site_threads is not None:
            self._site_threads.shutdown(wait=False, cancel_futures=True)
        self._keys.shutdown(wait=False, cancel_futures=True)
        self.network.uninstall()
        if self._heap_attached:
            self._heap_attached = False
            SHARD_HEAP.detach()
        self.nvram.close()
        self._log.close()

    # ------------------------------------------------------------------- power
    def _folder(self, n: int) -> Path:
        return self.root / "devices" / str(n)

    def _build(self, n: int) -> Device:
        return build_device(self._folder(n), self.clock, testbed=self._testbed,
                            ca_files=self._ca_files, providers_file=self._providers,
                            nvram=lambda: self.nvram.device(n), idp_executor=self.network.executor)

    async def power_on(self, numbers: list[int]) -> int:
        """Power these devices on (their first boot or after a cut); returns how many."""
        gate = asyncio.Semaphore(POWER_ON_AT_ONCE)

        loop = asyncio.get_running_loop()

        async def one(mfp: FleetMfp) -> None:
            async with gate:
                await loop.run_in_executor(self._keys, provision_key, self._folder(mfp.number))
                codes = await mfp.run(mfp.power_on(self._build(mfp.number)))
                self._approvals += codes
                SHARD_HEAP.grown()

        todo = [self.mfps[n] for n in numbers if n in self.mfps and not self.mfps[n].on]
        await asyncio.gather(*(one(m) for m in todo))
        return len(todo)

    async def power_off(self, numbers: list[int]) -> int:
        """The power goes: each device stops where it stands (tasks cancelled, sockets dropped,
        NVRAM holding only what was committed)."""
        todo = [self.mfps[n] for n in numbers if n in self.mfps and self.mfps[n].on]
        await asyncio.gather(*(m.power_off() for m in todo))
        if todo:
            SHARD_HEAP.released()
        return len(todo)

    async def poll_round(self, admit: int | None = None) -> dict[str, float]:
        """Every POP setting of every device with power checks its mailbox now (what a site's
        devices do when their schedules line up), admitted `admission.limit` at a time (or
        `admit` at a time for this round: the event's `admit=`): each check starts (and its
        own timeouts start) once admitted. Returns how many checks, how many failed, the
        round's wall time and the admission waits (p99, longest)."""
        began = time.perf_counter()
        gate = self.admission if admit is None else Admission(admit)
        self._round_gates.append(gate)
        waits = gate.wait.plus(Histogram())

        def check(mfp: FleetMfp, store: str) -> Callable[[], Awaitable[Any]]:
            async def start() -> Any:
                if mfp.device is None:  # lost power while it waited
                    return None
                return await mfp.run(mfp.device.api.check_mail(store, wait_printed=False))
            return start

        checks = [gate.run(check(m, store))
                  for m in self.mfps.values() if m.device is not None
                  for store in self.profile.pop_stores]
        try:
            results = await asyncio.gather(*checks, return_exceptions=True)
        finally:
            self._round_gates.remove(gate)
            if gate is not self.admission:
                self.admission.absorb(gate)
        failed = sum(1 for r in results if isinstance(r, BaseException) or r is None or not r.ok)
        waited = gate.wait.minus(waits)
        return {"checks": len(checks), "failed": failed, "seconds": time.perf_counter() - began,
                "wait_p99": waited.percentile(99) or 0.0,
                "wait_max": max(0.0, gate.last_admitted_at - began) if checks else 0.0}

    async def cut(self, numbers: list[int]) -> int:
        return self.network.cut({n for n in numbers if n in self.mfps})

    async def restore(self, numbers: list[int]) -> None:
        self.network.restore(set(numbers))

    # --------------------------------------------------------------- the office
    def _plan_jobs(self, mfp: FleetMfp) -> None:
        """The office starts using a device once its tokens are all there (the first time).

        Job times are drawn from the fleet's start, the same whatever the shard layout and
        however long the bring-up took; those that fell before the device was ready are sent
        now, as people who waited for it.
        """
        for kind, rate in (("scan", self.profile.scan_rate), ("fax", self.profile.fax_rate)):
            if rate > 0:
                rng = random.Random(f"{self.profile.seed}:{mfp.number}:{kind}")
                self._next_job(mfp, kind, rate, rng, self._origin)

    def _next_job(self, mfp: FleetMfp, kind: str, rate: float, rng: random.Random,
                  after: float) -> None:
        when = after + rng.expovariate(rate / 3600.0)

        def due() -> None:
            self._spawn(mfp.run(mfp.send(kind)))
            self._next_job(mfp, kind, rate, rng, when)

        self.agenda.at(when, due)

    def _flow_failed(self, mfp: FleetMfp, store: str) -> None:
        if self.profile.regain_after <= 0:
            return

        def again() -> None:
            if mfp.on and mfp.states.get(store) == "not_retrieved":
                self._spawn(asyncio.get_running_loop().create_task(
                    self.admission.run(lambda: mfp.run(self._regain(mfp, store)))))

        self.agenda.at(self.clock.now() + self.profile.regain_after, again)

    async def _regain(self, mfp: FleetMfp, store: str) -> None:
        found = await mfp.get_token(store)
        if found is not None:
            self._approvals.append(found)

    def _spawn(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --------------------------------------------------------------- approvals
    async def flush_approvals(self) -> None:
        if not self._approvals:
            return
        pending, self._approvals = self._approvals, []
        if self._site is not None:
            await self._site_approve(pending)
            return
        if self.link is None:
            self.approvals["left_to_someone_else"] += len(pending)
            return
        approved, refused = await self.link.approve_all(
            (request.user_code, request.account) for request in pending)
        self.approvals["approved"] += approved
        for item in refused:
            self.refusals[str(item.get("error", "refused"))] += 1

    async def _site_approve(self, pending: list[ApprovalRequest]) -> None:
        """The site's approver, once per code, a few at a time (each is a process)."""
        site, loop = self._site, asyncio.get_running_loop()
        assert site is not None

        async def one(request: ApprovalRequest) -> None:
            try:
                await loop.run_in_executor(self._site_threads, site.approve, request)
            except ApproverError as exc:
                self.refusals["site_approver"] += 1
                log.warning("fleet: %s", exc)
            else:
                self.approvals["approved"] += 1

        await asyncio.gather(*(one(r) for r in pending))

    async def _approve_often(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            await self.flush_approvals()

    # ------------------------------------------------------------ virtual time
    async def advance(self, seconds: float, *, settle_timeout: float = 60.0) -> float:
        """Move the virtual clock `seconds` on, from one sleeper's deadline to the next,
        settling at each: whatever a device starts at an instant (a poll, a refresh, a send)
        is finished at that instant, however long it takes in real time. So virtual time is
        the same whatever the machine's speed, and two runs of a fleet count the same."""
        clock = self.clock
        if not isinstance(clock, VirtualClock):
            raise ValueError("advance() is for a virtual clock; this shard runs on real time")
        target = clock.now() + seconds
        while True:
            await self.settle(settle_timeout)
            due = [d for d in clock.pending()[:1] if d <= target]
            step = (due[0] if due else target) - clock.now()
            await clock.advance(max(0.0, step))
            if not due:
                break
        await self.settle(settle_timeout)
        return clock.now()

    async def settle(self, timeout: float = 60.0) -> bool:
        """Wait (real time, bounded) until nothing the devices started is still going."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while quiet < 3:
            await self.flush_approvals()
            for _ in range(5):
                await asyncio.sleep(0)
            if self.network.busy == 0 and not self._tasks and not self._approvals:
                quiet += 1
            else:
                quiet = 0
                await asyncio.sleep(0.002)
            if loop.time() > deadline:
                self.settle_timeouts += 1
                return False
        return True

    # ------------------------------------------------------------------ metrics
    async def _probe_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_PROBE)
            late = max(0.0, loop.time() - before - LAG_PROBE)
            self.lag.add(late or 1e-5)
            self.lag_max = max(self.lag_max, late)

    def sample(self) -> dict[str, Any]:
        states: Counter[str] = Counter()
        tokens: Counter[str] = Counter()
        for mfp in self.mfps.values():
            states[mfp.state()] += 1
            for value in mfp.states.values():
                tokens[value if mfp.on else "off"] += 1
        usage = resource.getrusage(resource.RUSAGE_SELF)
        network = self.network.snapshot()
        network["hist"]["admission_wait"] = self.admission.wait.to_json()
        sample = {
            "shard": self.spec.index,
            "t": self.clock.now(),
            "wall": time.perf_counter() - self._started_wall,
            "devices": {"on": sum(1 for m in self.mfps.values() if m.on),
                        "total": len(self.mfps)},
            "device_states": dict(states),
            "token_states": dict(tokens),
            **self.tally.snapshot(),
            **network,
            "approvals": {**self.approvals, **{f"refused_{k}": v for k, v in self.refusals.items()}},
            "lag": self.lag.to_json(),
            "lag_max": self.lag_max,
            "admission": {"admitted": self.admission.admitted,
                          "waiting": self.admission.waiting + sum(
                              g.waiting for g in self._round_gates if g is not self.admission),
                          "in_flight": self.admission.in_flight + sum(
                              g.in_flight for g in self._round_gates if g is not self.admission)},
            "admit": self.admission.snapshot(),
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "rss": _rss(),
            "threads": threading.active_count(),
            "fds": _fds(),
            "nvram_bytes": self.nvram.size(),
            "settle_timeouts": self.settle_timeouts,
        }
        return sample

    def status(self) -> list[dict[str, Any]]:
        """Each device as it stands: on or off, its tokens, its unfinished jobs."""
        return [{"n": m.number, "on": m.on, "site": m.site, "state": m.state(),
                 "tokens": dict(m.states), "pending_jobs": m.pending_jobs(),
                 "pending": m.pending()[:3],
                 "expired_tokens": m.expired_tokens(),
                 "boots": m.boots} for m in self.mfps.values()]


class _DeviceLog:
    """The devices' log lines (warnings and up) go to `<shard>/devices.log`, not the terminal:
    a thousand devices losing their network at once would bury the progress line."""

    LOGGERS = ("mfp_sim.firmware", "mfp_sim.hwsim")

    def __init__(self, path: Path) -> None:
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: "
                                                    "%(message)s"))
        self.handler.setLevel(logging.WARNING)
        self._before = []
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            self._before.append((logger, logger.propagate))
            logger.addHandler(self.handler)
            logger.propagate = False

    def close(self) -> None:
        for logger, propagate in self._before:
            logger.removeHandler(self.handler)
            logger.propagate = propagate
        self.handler.close()


def _rss() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def _raise_file_limit(wanted: int = 65536) -> None:
    """Thousands of devices keep thousands of sockets and files: lift the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))  # root may raise it
            return
    except (ValueError, OSError):
        pass
    target = wanted if hard == resource.RLIM_INFINITY else min(hard, max(soft, wanted))
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
