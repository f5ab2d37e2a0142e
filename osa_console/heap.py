"""Keeping Python's cyclic garbage collector off the night's snapshot.

A 10,000-subrun night is a quarter of a million long-lived objects (the snapshot, the engine's
tracking state). Every full collection walks all of them, about 100 ms on the machines we
measured, and opening a 250-subrun sequence allocates enough to trigger one every few opens: a
visible stall at random moments. After each snapshot is applied, everything alive is moved out
of the collector's reach (:func:`gc.freeze`); objects freed by reference counting are still
freed at once. Garbage cycles frozen with it (closed screens, say) would never be collected, so
at most every ``full_every`` seconds the heap is unfrozen and collected once, at a moment chosen
here (right after a refresh) rather than at random.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


class HeapPolicy:
    def __init__(
        self,
        *,
        enabled: bool = True,
        full_every: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self.full_every = full_every
        self._clock = clock
        self._last_full: float | None = None
        self.full_collections = 0

    def settled(self) -> None:
        """A snapshot has been applied: freeze what is alive, after a full collection if due."""
        if not self.enabled:
            return
        now = self._clock()
        if self._last_full is None or now - self._last_full >= self.full_every:
            gc.unfreeze()
            gc.collect()
            self._last_full = now
            self.full_collections += 1
        gc.freeze()

    def release(self) -> None:
        """Hand everything back to the collector (the console is closing)."""
        if self.enabled:
            gc.unfreeze()
