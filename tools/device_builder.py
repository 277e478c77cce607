"""The one way the tools build a device: from a NVRAM folder, a clock, and what it should trust.

`mfp-sim device`, the demo, the benchmark and `Testbed.make_device` all come here, so a device
started any way knows the same providers and CAs: the built-in providers, the bench's `local`
provider and CA when a testbed is given, imported CA files, and a providers file last (it may
override the others).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.firmware.trust import TrustStore
from mfp_sim.hwsim.clock import Clock
from mfp_sim.hwsim.nvram import Nvram

from .testbed_file import local_provider

__all__ = ["build_device"]


def build_device(
    nvram_dir: Path,
    clock: Clock,
    *,
    testbed: Mapping[str, Any] | None = None,
    ca_files: Iterable[Path] = (),
    providers_file: Path | None = None,
    keystore_dir: Path | None = None,
    nvram: Callable[[], Nvram] | None = None,
    idp_executor: Executor | None = None,
) -> Device:
    """A device (not yet started). `testbed` is a bench's testbed.json, already read.

    Its key is kept in `keystore_dir`, by default beside the NVRAM folder (`<nvram>.keystore`).
    `nvram` opens a fleet shard's record store for this device at each boot, `idp_executor`
    is the shard's pool of worker threads (`Device` explains both).
    """
    registry = ProviderRegistry()
    pems: list[bytes] = []
    if testbed is not None:
        registry.add(local_provider(dict(testbed)))
        pems.append(TrustStore.read_ca_file(Path(testbed["ca_file"])))
    for ca in ca_files:
        pems.append(TrustStore.read_ca_file(Path(ca)))
    if providers_file is not None:
        registry.load_toml(Path(providers_file))
    return Device(Path(nvram_dir), clock=clock, providers=registry, ca_pems=pems,
                  keystore_dir=keystore_dir, nvram=nvram, idp_executor=idp_executor)
