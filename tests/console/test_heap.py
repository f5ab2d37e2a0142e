"""The heap policy freezes what is alive after a snapshot, and still reclaims garbage cycles: a
cycle dropped after a freeze is collected at the next full collection the policy makes, so a
console left open all night does not keep every closed screen.

These tests change the interpreter's collector state and put it back when they finish.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from osa_console.heap import HeapPolicy


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.collect()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cycles_frozen_with_the_heap_are_reclaimed_at_the_next_full_collection() -> None:
    clock = Clock()
    policy = HeapPolicy(full_every=600, clock=clock)
    policy.settled()  # the first one collects, then freezes
    assert policy.full_collections == 1

    node = Node()
    alive = weakref.ref(node)
    clock.now = 10
    policy.settled()
    assert gc.get_freeze_count() > 0
    del node
    gc.collect()
    assert alive() is not None, "a frozen cycle is out of the collector's reach"

    clock.now = 300
    policy.settled()  # not due yet: it stays
    assert policy.full_collections == 1
    assert alive() is not None

    clock.now = 610
    policy.settled()
    assert policy.full_collections == 2
    assert alive() is None


class Leaf:
    """Like a snapshot's objects: no reference cycle."""


def test_a_frozen_snapshot_is_freed_as_soon_as_it_is_replaced() -> None:
    policy = HeapPolicy()
    snapshot = [Leaf() for _ in range(100)]
    alive = weakref.ref(snapshot[0])
    policy.settled()
    assert alive() is not None
    snapshot = []  # the next refresh replaces it: reference counting frees it, frozen or not
    assert alive() is None and snapshot == []


def test_release_and_disabled_leave_the_collector_alone() -> None:
    HeapPolicy(enabled=False).settled()
    assert gc.get_freeze_count() == 0
    policy = HeapPolicy()
    policy.settled()
    assert gc.get_freeze_count() > 0
    policy.release()
    assert gc.get_freeze_count() == 0
