"""The part of the engine the console uses, as a Protocol.

The console depends on this shape rather than on :class:`osa_core.engine.Engine` so that
snapshot tests can render fixed data through a fake; everything else (Pilot tests, the
command) uses the real engine.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from osa_core.model.actions import ActionPreview, ActionReport, LogRef, Selection
from osa_core.model.closestate import ClosingJob
from osa_core.model.snapshot import NightSnapshot, SubrunKey


class EnginePort(Protocol):
    date: dt.date

    @property
    def snapshot(self) -> NightSnapshot: ...

    async def refresh(self) -> NightSnapshot:
        """One scheduler query; an unreachable scheduler gives ``health.ok`` False, not an error."""
        ...

    async def submit(self) -> ActionReport:
        """Submit what was never submitted (the demo starts its night with it)."""
        ...

    def preview_resubmit(self, selection: Selection) -> ActionPreview: ...

    async def resubmit(self, selection: Selection) -> ActionReport: ...

    def preview_cancel(self, selection: Selection) -> ActionPreview: ...

    async def cancel(self, selection: Selection) -> ActionReport: ...

    def logs(self, key: SubrunKey) -> list[LogRef]:
        """Every attempt's stdout/stderr/history files, oldest first."""
        ...

    async def close_night(self, force: bool = False) -> ActionReport: ...

    async def push(self) -> ActionReport: ...

    def handover(self, html: bool = False) -> str:
        """The shift's handover report (Markdown, or HTML), from the ledger: blocking, call it in a worker."""
        ...

    def closing_jobs(self) -> tuple[ClosingJob, ...]:
        """The closing's merge jobs and night-wise job with their steps: blocking, call it in a worker."""
        ...

    def shutdown(self) -> None: ...
