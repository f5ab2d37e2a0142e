"""What the closer needs of the engine that runs it: a small port, so the closer never imports it.

The engine satisfies this Protocol as it is; tests can hand the closer anything else that does.
"""

from __future__ import annotations

from typing import Protocol

from osa_core.model.config import Config
from osa_core.model.layout import NightLayout
from osa_core.model.snapshot import NightSnapshot
from osa_core.pipeline.base import Profile
from osa_core.scheduler.base import Scheduler
from osa_core.track.ledger import Ledger
from osa_core.track.tracking import NightState


class ClosingHost(Protocol):
    config: Config
    layout: NightLayout
    ledger: Ledger
    scheduler: Scheduler
    profile: Profile
    state: NightState
    """The night's sequences as tracked (the closer copies their calibration files)."""
    scheduler_calls: int
    """Counted by every scheduler query, the closer's included (tests and benchmarks read it)."""

    @property
    def snapshot(self) -> NightSnapshot: ...

    async def refresh(self) -> NightSnapshot: ...
