"""What a night's snapshot holds besides its subruns: the night, its profile, the scheduler's
health, the time, the notes.

Three readers make a night's snapshot, or its JSON: the engine's :class:`NightState` (folding
scheduler answers), a process that shows the night once (:mod:`osa_core.track.ledger_snapshot`)
and a cold ``status --json`` (:mod:`osa_core.track.status_rows`). The engine gathers the frame
once (``Engine.frame``) and each reader hands it its sequence lines and subruns: one place says
what a snapshot is made of.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from osa_core.model.snapshot import (
    NightEvent,
    NightSnapshot,
    SchedulerHealth,
    SequenceStatus,
    SubrunKey,
    SubrunStatus,
)
from osa_core.model.states import SequenceType
from osa_core.pipeline.base import Profile as PipelineProfile


@dataclass(frozen=True, slots=True)
class Profile:
    """What of the pipeline profile a snapshot shows."""

    name: str
    simulation: bool
    step_names: Mapping[SequenceType, tuple[str, ...]]
    step_labels: Mapping[str, str]

    @classmethod
    def of(cls, profile: PipelineProfile) -> Profile:
        return cls(
            name=profile.name,
            simulation=profile.simulation,
            step_names={
                SequenceType.CALIBRATION: profile.calibration_step_names,
                SequenceType.DATA: profile.subrun_step_names,
            },
            step_labels=profile.step_labels,
        )


@dataclass(frozen=True, slots=True)
class Frame:
    """Everything of a snapshot but its sequences and subruns (see :class:`NightSnapshot`)."""

    date: dt.date
    backend: str
    profile: Profile
    health: SchedulerHealth
    now: dt.datetime
    closing: str | None = None
    next_refresh: float = 5.0
    problems: tuple[str, ...] = ()
    hold: str | None = None
    events: tuple[NightEvent, ...] = ()
    alerts: int = 0
    sources: Mapping[int, str] = field(default_factory=dict)

    def snapshot(
        self,
        sequences: tuple[SequenceStatus, ...],
        subruns: Mapping[int, tuple[SubrunStatus, ...]],
        changed: frozenset[SubrunKey] = frozenset(),
    ) -> NightSnapshot:
        profile = self.profile
        return NightSnapshot(
            date=self.date,
            backend=self.backend,
            profile=profile.name,
            simulation=profile.simulation,
            taken_at=self.now,
            health=self.health,
            sequences=sequences,
            subruns=subruns,
            step_names=profile.step_names,
            step_labels=profile.step_labels,
            changed=changed,
            closing=self.closing,
            next_refresh=self.next_refresh,
            problems=self.problems,
            hold=self.hold,
            events=self.events,
            alerts=self.alerts,
            sources=self.sources,
        )
