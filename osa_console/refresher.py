"""The background refresh loop: one engine refresh at the engine's interval, or on demand.

It runs as an async worker on the app's event loop, because the engine's local backend lives
on that loop; the engine does its blocking work (scheduler commands, ledger) off the loop.
It never touches a widget: each snapshot goes to the app as a :class:`SnapshotArrived`
message, and the app's handler hands it to the open screens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.message import Message

from osa_console.engine_port import EnginePort
from osa_console.messages import RefreshFailed, SnapshotArrived


class Refresher:
    def __init__(
        self,
        engine: EnginePort,
        post: Callable[[Message], object],
        *,
        automatic: bool = True,
        min_interval: float = 0.5,
        max_interval: float = 60.0,
    ) -> None:
        self._engine = engine
        self._post = post
        self._automatic = automatic
        self._min = min_interval
        self._max = max_interval
        self._wake = asyncio.Event()
        self.refreshes = 0

    def request(self) -> None:
        """Refresh now (the ``r`` key, and after every action)."""
        self._wake.set()

    async def run(self) -> None:
        """Refresh until cancelled; the first refresh happens at once."""
        interval: float | None = None
        while True:
            if interval is not None:
                await self._sleep(interval)
            self._wake.clear()
            interval = await self.refresh_once()

    async def refresh_once(self) -> float:
        try:
            snapshot = await self._engine.refresh()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A broken ledger or a bug must not kill the loop: the console keeps the last
            # snapshot, says what happened, and tries again at the longest interval.
            self._post(RefreshFailed(f"{type(exc).__name__}: {exc}"))
            return self._max
        self.refreshes += 1
        self._post(SnapshotArrived(snapshot))
        return min(max(snapshot.next_refresh, self._min), self._max)

    async def _sleep(self, seconds: float) -> None:
        if not self._automatic:
            await self._wake.wait()
            return
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass
