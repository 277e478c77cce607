"""The coordinator: splits the fleet into shards, powers it on, plays the timeline, keeps time,
and gathers what every shard counted into one series.

    plan ──► shards (in this process, or Ray actors on this machine or a cluster)
               │ power_on / power_off / cut / restore / advance / sample / status
    bench ◄────┤ accounts, faults, revocations, stats, clock   (its control API)
    series ◄───┘ one merged sample every `sample_every` s of fleet time

Fleet time starts at 0 when the devices are first powered on. With the real clock the shards
run on their own and the coordinator wakes up to sample and to play events. With a virtual
clock the coordinator moves time in `tick`s: the bench's clock first, then every shard's,
each shard settling before the next step, so events land between steps, never in the middle
of a device's exchange.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mfp_sim.firmware.errors import ProviderError
from mfp_sim.firmware.providers import BUILTIN_PROVIDERS, ProviderRegistry
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.site_approver import ApproverError, SiteApprover

from .admission import ADMIT_DEFAULT
from .bench_link import BenchLink
from .errors import FleetInputError, FleetSetupError
from .handles import (
    LocalShard,
    RayShard,
    ShardHandle,
    describe_nodes,
    ray_shards,
    start_ray,
    stop_ray,
)
from .metrics import merge
from .profile import FleetProfile
from .shard import ShardSpec
from .timeline import Fault, FleetEvent, NetworkDown, PollRound, PowerCut, Revoke, Timeline

__all__ = ["FleetPlan", "FleetRun", "Fleet", "bench_summary"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FleetPlan:
    devices: int
    root: Path
    profile: FleetProfile = field(default_factory=FleetProfile)
    timeline: Timeline = field(default_factory=Timeline)
    clock: str = "real"
    duration: float = 600.0
    testbed: Mapping[str, Any] | None = None
    providers_toml: str | None = None
    ca_pems: tuple[str, ...] = ()
    processes: int = 1
    ray_address: str | None = None
    tick: float = 1.0
    sample_every: float | None = None
    settle_timeout: float = 60.0
    workers: int = 16
    bench_knobs: Mapping[str, Any] = field(default_factory=dict)
    #: End this long after every device first had all its tokens (`duration` stays the cap).
    after_ready: float | None = None
    #: The site's approver command (profile approve = "site"; tools/site_approver.py).
    approver: str | None = None
    #: Device work each shard starts that runs at once (tools/fleet/admission.py).
    admit: int = ADMIT_DEFAULT

    @property
    def uses_ray(self) -> bool:
        return self.processes > 1 or self.ray_address is not None

    def check(self) -> None:
        """Refuse, with what is allowed, what cannot run before anything starts."""
        if not 1 <= self.devices <= 1_000_000:
            raise FleetInputError("--devices: a whole number from 1 to 1,000,000")
        if self.clock not in ("real", "virtual"):
            raise FleetInputError("--clock: real or virtual")
        if not 1 <= self.processes <= max(self.devices, 1):
            raise FleetInputError(f"--processes: from 1 to the number of devices ({self.devices})")
        if self.duration <= 0:
            raise FleetInputError("--duration: a positive duration, e.g. 10m")
        bench = self.testbed is not None and bool(self.testbed.get("control_url"))
        needs = self.timeline.needs_bench()
        if needs and not bench:
            raise FleetInputError(f"{self.timeline.source}: {needs[0].kind} (line {needs[0].line}) "
                                  "needs the bench's control API: give --testbed with a "
                                  "testbed.json that has its control_url")
        if self.profile.approve == "bench" and not bench:
            raise FleetInputError(f"{self.profile.source}: approve = \"bench\" needs --testbed; with "
                                  "your own identity provider set [fleet] approve = \"site\" "
                                  "(with --approver) or \"none\"")
        if (self.profile.approve == "site") != (self.approver is not None):
            raise FleetInputError(f"{self.profile.source}: approve = \"site\" and --approver CMD go "
                                  f"together (approve is {self.profile.approve!r}, --approver "
                                  f"{'given' if self.approver is not None else 'not given'})")
        if self.approver is not None:
            try:
                SiteApprover(self.approver)
            except ApproverError as exc:
                raise FleetInputError(f"--approver: {exc}") from None
        if self.clock == "virtual" and not bench:
            raise FleetInputError("--clock virtual needs the bench (--testbed): a real identity "
                                  "provider's tokens expire on real time")
        if self.providers_toml is not None or self.testbed is None:
            provider_ports(self.providers_toml or "", self.profile.provider)  # refuses if wrong
        for event in self.timeline.events:
            if isinstance(event, NetworkDown) and event.site > self.profile.sites:
                raise FleetInputError(f"{self.timeline.source} line {event.line}: site {event.site}, "
                                      f"but the profile has {self.profile.sites} site(s) "
                                      "([fleet] sites)")


def provider_ports(providers_toml: str, name: str) -> dict[int, str]:
    """The mail ports of provider `name` (its SMTP and POP presets), from a providers file's
    text (built-in providers without one): how the shards tell an SMTP session from a POP3 one
    against a company's own servers. Refuses a file the devices would refuse, or a provider it
    does not name."""
    import tempfile

    registry = ProviderRegistry(BUILTIN_PROVIDERS)
    if providers_toml:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "providers.toml"
            path.write_text(providers_toml, encoding="utf-8")
            try:
                registry.load_toml(path)
            except ProviderError as exc:
                raise FleetInputError(f"--providers: {str(exc).replace(str(path), 'the file')}") \
                    from None
    if name not in registry:
        raise FleetInputError(f"the profile's provider {name!r} is not among the providers "
                              f"({', '.join(registry.names())}): name one in [fleet] provider, or "
                              "give --testbed for the bench's (local)")
    presets = registry.get(name).presets
    return {p.port: "smtp" if service == "smtp" else "pop3" for service, p in presets.items()}


@dataclass
class FleetRun:
    """What a run gives the report: the merged series, the events, the bench's own counts."""

    plan: dict[str, Any]
    series: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    bench_series: list[dict[str, Any]] = field(default_factory=list)
    bench_stats: dict[str, Any] | None = None
    devices: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)


def bench_summary(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The bench's counters without the per-user tables (kept for every sample)."""
    idp = stats.get("idp", {})
    token = idp.get("token", {})

    def mail(part: Mapping[str, Any]) -> dict[str, Any]:
        auth = part.get("auth", {})
        return {"sessions": part.get("sessions", 0), "auth": auth.get("by_result", {}),
                "auth_reasons": auth.get("by_reason", {})}

    return {"device_authorization": {"total": idp.get("device_authorization", {}).get("total", 0),
                                     "by_outcome": idp.get("device_authorization", {}).get(
                                         "by_outcome", {})},
            "token": {"total": token.get("total", 0), "by_grant_type": token.get("by_grant_type", {}),
                      "by_outcome": token.get("by_outcome", {})},
            "faults_fired": idp.get("faults_fired", {}),
            "smtp": mail(stats.get("smtp", {})), "pop3": mail(stats.get("pop3", {}))}


Action = Callable[[], Awaitable[None]]
#: On the real clock the bench's counters are read at most this often (real seconds): a sample
#: every second must not cost the bench (or the fleet's process) a 100 KB answer each time. On
#: a virtual clock they are read at every sample (time stands still while they are read).
BENCH_STATS_EVERY = 5.0


class Fleet:
    def __init__(self, plan: FleetPlan, *, bench_clock: VirtualClock | None = None,
                 progress: Callable[[dict[str, Any], dict[str, Any]], None] | None = None) -> None:
        """`bench_clock`: the virtual clock of a bench in this process (tests); shards in this
        process then share it, and the coordinator moves it itself."""
        plan.check()
        self.plan = plan
        self.bench_clock = bench_clock
        self.progress = progress
        self.link: BenchLink | None = None
        self.shards: list[ShardHandle] = []
        self.run_info = FleetRun(plan=_describe(plan))
        self._actions: list[tuple[float, int, str, Action]] = []
        self._t0 = 0.0
        self._wall0 = 0.0
        self._ray_started = False
        self._bench_virtual = False
        self._running: list[asyncio.Task[None]] = []
        self._virtual_now = 0.0
        self._after_ready: list[FleetEvent] = []
        self._stats_wall = -BENCH_STATS_EVERY
        self._end = plan.duration

    # --------------------------------------------------------------------- run
    async def run(self) -> FleetRun:
        try:
            await self._prepare_bench()
            await self._start_shards()
            self._plan_actions()
            self._wall0 = time.perf_counter()
            await self._play()
            await self._finish()
        finally:
            await self._stop()
        return self.run_info

    async def _prepare_bench(self) -> None:
        testbed = self.plan.testbed
        if testbed is None or not testbed.get("control_url"):
            return
        ca_pem = Path(str(testbed["ca_file"])).read_text(encoding="ascii")
        self.link = BenchLink(str(testbed["control_url"]), ca_pem)
        for pattern in self.plan.profile.families():
            await self.link.add_accounts(pattern, self.plan.devices)
        if self.plan.bench_knobs:
            await self.link.configure(dict(self.plan.bench_knobs))
        clock = await self.link.clock()
        self._bench_virtual = bool(clock.get("virtual"))
        if self.plan.clock == "virtual" and not self._bench_virtual:
            raise FleetSetupError("--clock virtual needs a bench on a virtual clock: start it with "
                                  "mfp-sim testbed --clock virtual")
        self._t0 = float(clock["now"]) if self.plan.clock == "virtual" else time.time()
        await self.link.reset_stats()

    def _specs(self) -> list[ShardSpec]:
        plan = self.plan
        testbed = dict(plan.testbed) if plan.testbed is not None else None
        ports: dict[int, str] = {}
        ca_pem = ""
        if testbed is not None:
            for name, port in dict(testbed.get("ports", {})).items():
                if name.startswith(("smtp", "pop3")):
                    ports[int(port)] = "smtp" if name.startswith("smtp") else "pop3"
            ca_pem = Path(str(testbed["ca_file"])).read_text(encoding="ascii")
        if plan.providers_toml is not None or testbed is None:
            ports.update(provider_ports(plan.providers_toml or "", plan.profile.provider))
        numbers = list(range(1, plan.devices + 1))
        size = -(-plan.devices // plan.processes)
        return [ShardSpec(index=i, numbers=tuple(numbers[i * size:(i + 1) * size]),
                          total=plan.devices, root=str(Path(plan.root) / f"shard-{i}"),
                          profile=plan.profile, testbed=testbed, bench_ca_pem=ca_pem,
                          providers_toml=plan.providers_toml, ca_pems=plan.ca_pems,
                          clock=plan.clock, clock_start=self._t0, workers=plan.workers,
                          mail_ports=ports, approver=plan.approver, admit=plan.admit)
                for i in range(plan.processes) if numbers[i * size:(i + 1) * size]]

    async def _start_shards(self) -> None:
        if self.plan.clock == "virtual" and not self.link and self.bench_clock is None:
            raise FleetSetupError("--clock virtual needs the bench")
        if self.bench_clock is not None:
            self._t0 = self.bench_clock.now()
        specs = self._specs()
        if self.plan.uses_ray:
            resources = await start_ray(self.plan.ray_address, self.plan.processes)
            self._ray_started = self.plan.ray_address is None
            log.info("Ray: %s", resources)
            ray_handles: list[RayShard] = ray_shards(specs, spread=self.plan.ray_address is not None)
            self.shards = list(ray_handles)
            await asyncio.gather(*(s.start() for s in self.shards))
            self.run_info.nodes = await describe_nodes(ray_handles)
        else:
            shared = self.bench_clock
            local = [LocalShard(spec, shared) for spec in specs]
            self.shards = list(local)
            for shard in local:
                await shard.start()
            self.run_info.nodes = [shard.node() for shard in local]
        if self.plan.clock == "real":
            self._t0 = time.time()

    # ---------------------------------------------------------------- the plan
    def _at(self, t: float, label: str, action: Action, mark: dict[str, Any] | None = None,
            *stamps: str) -> None:
        """Do `action` at fleet time `t`; note on `mark` the wall time it started or ended at
        (`stamps`), so the report can tell what happened while the event lasted."""
        if mark is not None:
            inner = action

            async def stamped() -> None:
                if "wall_from" in stamps:
                    mark["wall_from"] = time.perf_counter() - self._wall0
                await inner()
                if "wall_until" in stamps:
                    mark["wall_until"] = time.perf_counter() - self._wall0

            action = stamped
        self._actions.append((t, len(self._actions), label, action))

    def _owners(self, numbers: list[int]) -> dict[ShardHandle, list[int]]:
        size = -(-self.plan.devices // self.plan.processes)
        out: dict[ShardHandle, list[int]] = {}
        for n in numbers:
            out.setdefault(self.shards[(n - 1) // size], []).append(n)
        return out

    def _on_shards(self, method: str, numbers: list[int]) -> Action:
        async def act() -> None:
            await asyncio.gather(*(getattr(s, method)(ns) for s, ns in self._owners(numbers).items()))
        return act

    def _plan_actions(self) -> None:
        plan, profile, total = self.plan, self.plan.profile, self.plan.devices
        waves = max(1, int(profile.power_on_spread // max(plan.tick, 1.0)) or 1)
        everyone = list(range(1, total + 1))
        for w in range(waves):
            part = everyone[w::waves]
            at = profile.power_on_spread * w / waves
            self._at(at, f"power on {len(part)} devices", self._on_shards("power_on", part))
        for event in plan.timeline.events:
            if event.after_ready:
                self._after_ready.append(event)
            else:
                self._schedule(event, 0.0)
        self._actions.sort()

    def _schedule(self, event: FleetEvent, base: float) -> None:
        """Put an event's actions on the agenda, `base` seconds later than it says."""
        plan, profile, total = self.plan, self.plan.profile, self.plan.devices
        at = base + event.at
        text = event.describe()
        if isinstance(event, PowerCut):
            hit = event.devices(total, profile.seed)
            mark = self._mark(at, event.off_for, "power_cut", text)
            self._at(at, text, self._on_shards("power_off", hit), mark, "wall_from")
            self._at(at + event.off_for, f"power back on {len(hit)} devices",
                     self._on_shards("power_on", hit), mark, "wall_until")
        elif isinstance(event, NetworkDown):
            hit = [n for n in range(1, total + 1) if profile.site_of(n, total) == event.site]
            mark = self._mark(at, event.duration, "network_down", text)
            self._at(at, text, self._on_shards("cut", hit), mark, "wall_from")
            self._at(at + event.duration, f"network back at site {event.site}",
                     self._on_shards("restore", hit), mark, "wall_until")
        elif isinstance(event, PollRound):
            mark = self._mark(at, 0.0, "poll_round", text)
            self._at(at, text, self._poll_round(mark, event.admit), mark, "wall_from",
                     "wall_until")
        elif isinstance(event, Revoke):
            mark = self._mark(at, 0.0, "revoke", text)
            self._at(at, text, self._revoke(event.devices(total, profile.seed)), mark,
                     "wall_from", "wall_until")
        elif isinstance(event, Fault):
            span = event.duration if event.duration is not None else plan.duration - at
            mark = self._mark(at, span, "fault", text)
            self._at(at, text, self._arm(event), mark, "wall_from")
            if event.duration is not None:
                self._at(at + event.duration, f"fault {event.name} over",
                         self._disarm(event.name), mark, "wall_until")

    def _ready(self, bringup: float) -> None:
        """Every device has had all its tokens: the `ready+` events get their times."""
        for event in self._after_ready:
            self._schedule(event, bringup)
        self._after_ready = []
        self._actions.sort()
        if self.plan.after_ready is not None:
            self._end = min(self._end, bringup + self.plan.after_ready)

    def _mark(self, at: float, span: float, kind: str, text: str) -> dict[str, Any]:
        mark = {"t": at, "until": at + span, "kind": kind, "text": text}
        self.run_info.events.append(mark)
        return mark

    def _poll_round(self, mark: dict[str, Any], admit: int | None) -> Action:
        async def act() -> None:
            began = self.now()
            rounds = await asyncio.gather(*(s.poll_round(admit) for s in self.shards))
            mark["until"] = max(self.now(), began)
            mark["shards"] = rounds
            mark["text"] += (f": {sum(r['checks'] for r in rounds):,.0f} checks, "
                             f"{sum(r['failed'] for r in rounds):,.0f} failed, longest shard "
                             f"{max(r['seconds'] for r in rounds):.1f} s, admitted "
                             f"{admit or self.plan.admit} at a time per shard (wait p99 "
                             f"{max(r['wait_p99'] for r in rounds):.1f} s, longest "
                             f"{max(r['wait_max'] for r in rounds):.1f} s)")
        return act

    def _revoke(self, numbers: list[int]) -> Action:
        async def act() -> None:
            assert self.link is not None
            profile = self.plan.profile
            for n in numbers:
                for store in profile.stores:
                    await self.link.revoke(profile.account(store, n, self.plan.devices))
        return act

    def _arm(self, event: Fault) -> Action:
        async def act() -> None:
            assert self.link is not None
            await self.link.arm(event.arm_body())
        return act

    def _disarm(self, name: str) -> Action:
        async def act() -> None:
            assert self.link is not None
            await self.link.disarm(name)
        return act

    # ------------------------------------------------------------------ time
    def now(self) -> float:
        """Fleet time: seconds since the devices were first powered on."""
        if self.plan.clock == "virtual":
            return self._virtual_now - self._t0
        return time.time() - self._t0

    async def _play(self) -> None:
        plan = self.plan
        every = plan.sample_every or max(plan.tick, plan.duration / 300)
        self._virtual_now = self._t0
        next_sample = 0.0
        while True:
            t = self.now()
            while self._actions and self._actions[0][0] <= t + 1e-9:
                _, _, label, action = self._actions.pop(0)
                log.info("t=%.0f s: %s", t, label)
                if plan.clock == "virtual":  # between two steps: done before time moves on
                    await self._sample()  # what it was like just before
                    await action()
                    await asyncio.gather(*(s.settle(plan.settle_timeout) for s in self.shards))
                    await self._sample()  # what the event did, before time moves on
                else:  # on the real clock a bring-up takes time: sample meanwhile
                    self._running.append(asyncio.get_running_loop().create_task(action()))
            if t + 1e-9 >= next_sample:
                await self._sample()
                next_sample = t + every
            if t >= self._end - 1e-9:
                return
            if plan.clock == "virtual":
                step = min(plan.tick, self._end - t)
                await self._advance(step)
            else:
                due = min([next_sample, self._end]
                          + ([self._actions[0][0]] if self._actions else []))
                await asyncio.sleep(max(0.0, min(due - self.now(), 1.0)))

    async def _advance(self, step: float) -> None:
        if self.bench_clock is not None:
            if not self.plan.uses_ray:
                # The shard shares this clock and moves it itself, deadline by deadline.
                self._virtual_now += step
                await asyncio.gather(*(s.advance(step, self.plan.settle_timeout)
                                       for s in self.shards))
                return
            await self.bench_clock.advance(step)
        elif self._bench_virtual and self.link is not None:
            await self.link.advance(step)
        self._virtual_now += step
        await asyncio.gather(*(s.advance(step, self.plan.settle_timeout) for s in self.shards))

    async def _sample(self) -> None:
        samples = await asyncio.gather(*(s.sample() for s in self.shards))
        merged = merge(samples)
        merged["t"] = self.now()
        merged["wall"] = time.perf_counter() - self._wall0
        series = self.run_info.series
        series.append(merged)
        due = self.plan.clock == "virtual" or merged["wall"] - self._stats_wall >= BENCH_STATS_EVERY
        if self.link is not None and due:
            self._stats_wall = merged["wall"]
            stats = bench_summary(await self.link.stats())
            self.run_info.bench_series.append({"t": merged["t"], **stats})
        figures = self.run_info.figures
        retrieved = merged.get("device_states", {}).get("retrieved", 0)
        if "bringup_s" not in figures and retrieved == self.plan.devices:
            figures["bringup_s"] = merged["t"]
            figures["bringup_wall_s"] = merged["wall"]
            self._ready(merged["t"])
        if self.progress is not None:
            self.progress(merged, series[-2] if len(series) > 1 else {})

    async def _finish(self) -> None:
        await asyncio.gather(*self._running)
        await asyncio.gather(*(s.settle(self.plan.settle_timeout) for s in self.shards))
        await self._sample()
        if self.link is not None:
            self.run_info.bench_stats = await self.link.stats()
        lists = await asyncio.gather(*(s.status() for s in self.shards))
        self.run_info.devices = sorted((d for part in lists for d in part), key=lambda d: d["n"])
        self.run_info.figures["wall_s"] = time.perf_counter() - self._wall0

    async def _stop(self) -> None:
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        results = await asyncio.gather(*(s.stop() for s in self.shards), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.warning("a shard did not stop cleanly: %s", result)
        if self.plan.uses_ray:
            stop_ray([s for s in self.shards if isinstance(s, RayShard)], self._ray_started)
        if self.link is not None:
            await self.link.close()


def _describe(plan: FleetPlan) -> dict[str, Any]:
    return {"devices": plan.devices, "clock": plan.clock, "duration": plan.duration,
            "processes": plan.processes, "ray_address": plan.ray_address, "tick": plan.tick,
            "profile": plan.profile.source, "stores": list(plan.profile.stores),
            "timeline": plan.timeline.source,
            "events": [e.describe() for e in plan.timeline.events],
            "bench": plan.testbed.get("control_url") if plan.testbed else None,
            "idp_profile": plan.testbed.get("idp_profile") if plan.testbed else None,
            "bench_knobs": dict(plan.bench_knobs)}
