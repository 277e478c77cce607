"""How the coordinator reaches its shards: in this process, or as Ray actors.

Both kinds of handle have the same awaitable methods, so the coordinator does not know where
a shard runs. A shard in this process runs on the coordinator's own event loop (tests share
the bench's virtual clock with it this way). A Ray actor is an *async actor*: one event loop
in its own worker process, on this machine (`--processes P`) or on any node of a Ray cluster
(`--ray ADDRESS`). Ray is imported only here, and only when actors are asked for: a device,
the demo and the rest of the tools never import it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Protocol

from mfp_sim.hwsim.clock import Clock

from .errors import FleetSetupError
from .shard import Shard, ShardSpec

__all__ = ["ShardHandle", "LocalShard", "start_ray", "ray_shards", "stop_ray"]

log = logging.getLogger(__name__)

#: How long Ray may take to start or connect (real seconds) before the fleet gives up.
RAY_START_TIMEOUT = 120.0


class ShardHandle(Protocol):
    index: int

    async def start(self) -> None: ...
    async def power_on(self, numbers: list[int]) -> int: ...
    async def power_off(self, numbers: list[int]) -> int: ...
    async def cut(self, numbers: list[int]) -> int: ...
    async def poll_round(self, admit: int | None = None) -> dict[str, float]: ...
    async def restore(self, numbers: list[int]) -> None: ...
    async def advance(self, seconds: float, settle_timeout: float) -> float: ...
    async def settle(self, timeout: float) -> bool: ...
    async def sample(self) -> dict[str, Any]: ...
    async def status(self) -> list[dict[str, Any]]: ...
    async def stop(self) -> None: ...


class LocalShard:
    """A shard on the caller's event loop (optionally on the caller's clock); as a Ray actor
    (`ray.remote(LocalShard)`), a shard on the actor's own loop in its worker process."""

    def __init__(self, spec: ShardSpec, clock: Clock | None = None) -> None:
        self.index = spec.index
        self.shard = Shard(spec, clock)

    async def start(self) -> None:
        await self.shard.start()

    async def power_on(self, numbers: list[int]) -> int:
        return await self.shard.power_on(numbers)

    async def power_off(self, numbers: list[int]) -> int:
        return await self.shard.power_off(numbers)

    async def cut(self, numbers: list[int]) -> int:
        return await self.shard.cut(numbers)

    async def poll_round(self, admit: int | None = None) -> dict[str, float]:
        return await self.shard.poll_round(admit)

    async def restore(self, numbers: list[int]) -> None:
        await self.shard.restore(numbers)

    async def advance(self, seconds: float, settle_timeout: float) -> float:
        return await self.shard.advance(seconds, settle_timeout=settle_timeout)

    async def settle(self, timeout: float) -> bool:
        return await self.shard.settle(timeout)

    async def sample(self) -> dict[str, Any]:
        return self.shard.sample()

    async def status(self) -> list[dict[str, Any]]:
        return self.shard.status()

    async def stop(self) -> None:
        await self.shard.stop()

    def node(self) -> str:
        """Where the shard runs (a Ray actor answers from its own process)."""
        return f"{os.uname().nodename} pid {os.getpid()}"


class RayShard:
    """A handle on a `LocalShard` actor (awaiting its object references on the caller's loop)."""

    def __init__(self, actor: Any, index: int) -> None:
        self.actor = actor
        self.index = index

    async def _do(self, method: str, *args: Any) -> Any:
        return await getattr(self.actor, method).remote(*args)

    async def start(self) -> None:
        await self._do("start")

    async def power_on(self, numbers: list[int]) -> int:
        return int(await self._do("power_on", numbers))

    async def power_off(self, numbers: list[int]) -> int:
        return int(await self._do("power_off", numbers))

    async def cut(self, numbers: list[int]) -> int:
        return int(await self._do("cut", numbers))

    async def poll_round(self, admit: int | None = None) -> dict[str, float]:
        return dict(await self._do("poll_round", admit))

    async def restore(self, numbers: list[int]) -> None:
        await self._do("restore", numbers)

    async def advance(self, seconds: float, settle_timeout: float) -> float:
        return float(await self._do("advance", seconds, settle_timeout))

    async def settle(self, timeout: float) -> bool:
        return bool(await self._do("settle", timeout))

    async def sample(self) -> dict[str, Any]:
        return dict(await self._do("sample"))

    async def status(self) -> list[dict[str, Any]]:
        return list(await self._do("status"))

    async def stop(self) -> None:
        await self._do("stop")


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise FleetSetupError("shards in other processes need Ray: pip install 'mfp-sim[fleet]' "
                              "(or run the fleet in this process: --processes 1)") from None
    return ray


async def start_ray(address: str | None, processes: int) -> dict[str, Any]:
    """Connect to a Ray cluster (`address`) or start one on this machine; returns its size."""
    ray = _ray()
    if ray.is_initialized():
        return dict(ray.cluster_resources())
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True,
                              "ignore_reinit_error": True, "logging_level": logging.WARNING}
    if address:
        kwargs["address"] = address
    else:
        kwargs["num_cpus"] = processes
    try:
        await asyncio.wait_for(asyncio.to_thread(ray.init, **kwargs), RAY_START_TIMEOUT)
    except TimeoutError:
        raise FleetSetupError(f"Ray did not start within {RAY_START_TIMEOUT:g} s"
                              + (f" (cluster at {address})" if address else "")) from None
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise FleetSetupError(f"cannot start or reach Ray{' at ' + address if address else ''}: "
                              f"{exc}") from None
    return dict(ray.cluster_resources())


def ray_shards(specs: list[ShardSpec], spread: bool) -> list[RayShard]:
    """One async actor per shard; across nodes (`spread`) or packed on this machine."""
    ray = _ray()
    actor_class = ray.remote(LocalShard)
    options: dict[str, Any] = {"num_cpus": 1, "max_concurrency": 64}
    if spread:
        options["scheduling_strategy"] = "SPREAD"
    return [RayShard(actor_class.options(**options).remote(spec), spec.index) for spec in specs]


async def describe_nodes(shards: list[RayShard]) -> list[str]:
    return [str(await s.actor.node.remote()) for s in shards]


def stop_ray(shards: list[RayShard], started_here: bool) -> None:
    ray = _ray()
    for shard in shards:
        try:
            ray.kill(shard.actor)
        except Exception as exc:  # an actor that already died
            log.debug("actor %s: %s", shard.index, exc)
    if started_here:
        ray.shutdown()
