"""The heap policy freezes what is alive once the console is up, and nothing of it leaks: the
first snapshot, frozen with it, is freed as soon as the next replaces it, and what is created
later (closed screens, in reference cycles) is still collected.

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


class Leaf:
    """Like a snapshot's objects: no reference cycle."""


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.collect()


def test_once_up_the_live_heap_is_frozen_once() -> None:
    policy = HeapPolicy()
    kept = Node()
    alive = weakref.ref(kept)
    policy.started()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    del kept
    gc.collect()
    assert alive() is not None, "frozen: out of the collector's reach"
    policy.started()  # later refreshes freeze nothing more
    assert gc.get_freeze_count() <= frozen


def test_the_first_snapshot_is_freed_when_the_next_replaces_it() -> None:
    policy = HeapPolicy()
    snapshot = [Leaf() for _ in range(100)]
    alive = weakref.ref(snapshot[0])
    policy.started()
    snapshot = [Leaf()]  # reference counting frees the old one, frozen or not
    assert alive() is None and len(snapshot) == 1


def test_cycles_made_after_start_are_collected() -> None:
    policy = HeapPolicy()
    policy.started()
    closed_screen = Node()
    alive = weakref.ref(closed_screen)
    del closed_screen
    gc.collect()
    assert alive() is None


def test_release_and_disabled_leave_the_collector_alone() -> None:
    HeapPolicy(enabled=False).started()
    assert gc.get_freeze_count() == 0
    policy = HeapPolicy()
    policy.started()
    assert gc.get_freeze_count() > 0
    policy.release()
    assert gc.get_freeze_count() == 0
