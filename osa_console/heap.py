"""Keeping Python's cyclic garbage collector off what lives as long as the console.

Every full collection walks every tracked object of the process: the imported modules of
Textual, Rich and the engine, the app's own widgets, and the night's first snapshot, about
a quarter of a million objects on a 10,000-subrun night and ~100 ms a pass on the machines we
measured; opening a 250-subrun sequence allocates enough to trigger one every few opens.

Once the console is up and the first snapshot is shown, everything alive is collected once and
then moved out of the collector's reach (:func:`gc.freeze`), as long-running Python services do
after start-up. Only what is alive at that moment is frozen, and the objects alive then are the
ones that stay (modules, the app, the overview); the first snapshot has no reference cycles, so
reference counting still frees it when the next one replaces it. Later objects, closed screens
included, are collected as usual.

Freezing more often was tried and measured: a closed 250-subrun screen is ~30,000 objects in
reference cycles, and freezing at each refresh kept them until the next full collection
(~1 MiB per refresh with screens being opened).
"""

from __future__ import annotations

import gc


class HeapPolicy:
    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.frozen = False

    def started(self) -> None:
        """The console is up (first snapshot shown): collect once, freeze what is alive."""
        if not self.enabled or self.frozen:
            return
        gc.collect()
        gc.freeze()
        self.frozen = True

    def release(self) -> None:
        """Hand everything back to the collector (the console is closing)."""
        if self.frozen:
            gc.unfreeze()
            self.frozen = False
