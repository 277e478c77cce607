"""The shard's heap policy (tools/fleet/heap.py), with Python's real collector.

What a user of the fleet relies on: the collector's full passes walk only what grew since the
last one (so they stay short on a shard of thousands of devices), and cyclic garbage is never
kept for good: once the live heap has grown by a quarter, or devices lost power, the next
full pass collects it. The heap's size is the policy's own reading, given here by the test, so
the trigger is exact and does not depend on what else this process holds.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from mfp_sim.tools.fleet.heap import ShardHeap


class Node:
    """A cycle of one: freed only by the collector, never by its reference count."""

    def __init__(self) -> None:
        self.me = self


def tracked(obj: object) -> bool:
    """True while the collector's generations hold `obj` (False: frozen)."""
    return any(o is obj for o in gc.get_objects())


@pytest.fixture
def heap() -> Iterator[tuple[ShardHeap, list[int]]]:
    memory = [1000]
    policy = ShardHeap(live=lambda: memory[0])
    policy.attach()
    gc.collect()  # its survivors frozen; 1000 is the known-good memory
    try:
        yield policy, memory
    finally:
        policy.detach()
        gc.collect()


def test_survivors_of_a_full_pass_are_frozen_and_detach_hands_them_back(
        heap: tuple[ShardHeap, list[int]]) -> None:
    policy, _ = heap
    young = Node()
    assert tracked(young)
    gc.collect()
    assert not tracked(young), "what survived a full pass is out of the next passes' walk"
    policy.detach()
    try:
        assert tracked(young), "a shard that stops gives the collector everything back"
    finally:
        policy.attach()


def test_frozen_garbage_is_collected_once_memory_grew_by_a_quarter(
        heap: tuple[ShardHeap, list[int]]) -> None:
    policy, memory = heap
    node = Node()
    gone = weakref.ref(node)
    gc.collect()  # frozen while alive
    del node  # now a cycle nobody reaches, inside the frozen heap
    memory[0] = 1200  # grown, by less than a quarter
    gc.collect()
    assert gone() is not None, "below the bound, frozen cycles wait"
    assert policy.whole_passes == 0
    memory[0] = 1300  # more than a quarter above 1000
    gc.collect()  # this pass sees the growth and hands everything back
    assert policy.whole_passes == 1
    gc.collect()  # the next walks the whole heap
    assert gone() is None, "the cycle frozen while alive is collected"
    memory[0] = 1500  # the new known-good is 1300: 1500 is below 1300 x 1.25
    gc.collect()
    assert policy.whole_passes == 1


def test_a_power_cut_hands_everything_back(heap: tuple[ShardHeap, list[int]]) -> None:
    policy, _ = heap
    device = Node()
    gone = weakref.ref(device)
    gc.collect()
    del device  # the device lost power: its objects are garbage, frozen
    gc.collect()
    assert gone() is not None
    policy.released()
    gc.collect()
    assert gone() is None


def test_power_ons_freeze_and_set_the_known_good_memory(
        heap: tuple[ShardHeap, list[int]]) -> None:
    policy, memory = heap
    memory[0] = 5000  # devices powered on: five times the memory, all of it theirs
    fresh = Node()
    for _ in range(ShardHeap.EVERY):
        policy.grown()
    assert not tracked(fresh), "every EVERY power-ons, what is alive is frozen"
    gc.collect()
    assert policy.whole_passes == 0, "the devices' own growth is not taken for garbage"
