"""The immutable picture of a night that every front end reads.

The console, ``status --json``, the datacheck page and the closer all render a
:class:`NightSnapshot`; none of them re-parses scheduler output or log text. Snapshots share
unchanged :class:`SubrunStatus` objects with their predecessor, and name the keys that changed,
so a front end can update only those rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from osa_core.model.states import JobState, SequenceType
from osa_core.model.usage import Usage, UsageSummary, summarise

SubrunKey = tuple[int, int]
"""(seq, subrun); a calibration sequence has the single subrun 0."""


@dataclass(frozen=True, slots=True)
class StepTiming:
    name: str
    start: dt.datetime | None
    end: dt.datetime | None
    exit_code: int | None
    """None while running (or when the task died inside the step)."""
    skipped: bool = False
    """Already done by an earlier attempt: not run again."""
    detail: str = ""
    """Why it failed: a missing input, the tail of its output."""

    @property
    def seconds(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds()

    @property
    def running(self) -> bool:
        return self.start is not None and self.end is None


@dataclass(frozen=True, slots=True)
class SubrunStatus:
    seq: int
    run: int
    subrun: int
    state: JobState
    attempt: int
    """1 for the first submission; 0 when never submitted."""
    job_id: str | None = None
    exit_code: int | None = None
    node: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    reason: str | None = None
    """Why it waits or what failed, in words."""
    steps: tuple[StepTiming, ...] = ()
    attempts: tuple[tuple[int, str], ...] = ()
    """Every (attempt, job id) of this subrun, oldest first: where to find earlier logs."""
    usage: Usage | None = None
    """What the latest attempt used of what it asked for (as far as the scheduler said)."""

    @property
    def key(self) -> SubrunKey:
        return (self.seq, self.subrun)

    def step(self, name: str) -> StepTiming | None:
        for step in self.steps:
            if step.name == name:
                return step
        return None

    @property
    def failed_step(self) -> StepTiming | None:
        for step in self.steps:
            if step.exit_code not in (None, 0) or (step.running and self.state.failed):
                return step
        return None

    def elapsed(self, now: dt.datetime) -> float | None:
        if self.start is None:
            return None
        return ((self.end or now) - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class SequenceStatus:
    seq: int
    type: SequenceType
    run: int
    subruns: int
    parent: int | None
    drs4_run: int | None
    state: JobState
    counts: Mapping[JobState, int]
    tries: int
    """The highest attempt of any of its subruns."""
    job_id: str | None
    """The latest submission's job id."""
    start: dt.datetime | None
    end: dt.datetime | None
    """Set when every subrun has finished."""
    reason: str | None = None

    @property
    def completed(self) -> int:
        return self.counts.get(JobState.COMPLETED, 0)

    @property
    def failed(self) -> int:
        return sum(n for state, n in self.counts.items() if state.failed)

    @property
    def running(self) -> int:
        return self.counts.get(JobState.RUNNING, 0)

    @property
    def pending(self) -> int:
        return sum(
            self.counts.get(s, 0) for s in (JobState.PENDING, JobState.BLOCKED, JobState.NOT_SUBMITTED)
        )

    @property
    def progress(self) -> float:
        return self.completed / self.subruns if self.subruns else 1.0

    def elapsed(self, now: dt.datetime) -> float | None:
        if self.start is None:
            return None
        return ((self.end or now) - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class SchedulerHealth:
    ok: bool
    error: str | None = None
    last_ok: dt.datetime | None = None
    """When the scheduler last answered."""


@dataclass(frozen=True, slots=True)
class NightEvent:
    """One thing done to the night: an action, an autopilot decision, an alert opened or resolved."""

    time: str
    kind: str
    user: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"time": self.time, "kind": self.kind, "user": self.user, "message": self.message}


@dataclass(frozen=True, slots=True)
class NightSnapshot:
    date: dt.date
    backend: str
    profile: str
    simulation: bool
    taken_at: dt.datetime
    health: SchedulerHealth
    sequences: tuple[SequenceStatus, ...]
    subruns: Mapping[int, tuple[SubrunStatus, ...]]
    """Subruns by sequence number, in subrun order."""
    step_names: Mapping[SequenceType, tuple[str, ...]]
    step_labels: Mapping[str, str]
    changed: frozenset[SubrunKey] = field(default_factory=frozenset)
    """Subruns whose status differs from the previous snapshot (all of them in the first)."""
    closing: str | None = None
    """The closer's state in words (None: not started)."""
    next_refresh: float = 5.0
    """Seconds until the engine would refresh again (adaptive)."""
    problems: tuple[str, ...] = ()
    """What keeps the night from being shown whole (e.g. its night file cannot be read)."""
    hold: str | None = None
    """A person's hold on the night in words (``osa-core hold``): the autopilot keeps off it."""
    events: tuple[NightEvent, ...] = ()
    """The night's last events, newest first (``osa-core events`` has them all)."""
    alerts: int = 0
    """Incidents open (``osa-core alerts``)."""
    sources: Mapping[int, str] = field(default_factory=dict)
    """Run -> the source it observed, from the night's run catalogue (runs it does not list: none)."""

    def source(self, run: int) -> str:
        """The source a run observed, or "" when the run catalogue does not say."""
        return self.sources.get(run, "")

    def sequence(self, seq: int) -> SequenceStatus:
        for status in self.sequences:
            if status.seq == seq:
                return status
        raise KeyError(seq)

    def subrun(self, key: SubrunKey) -> SubrunStatus:
        seq, subrun = key
        for status in self.subruns.get(seq, ()):
            if status.subrun == subrun:
                return status
        raise KeyError(key)

    @property
    def totals(self) -> dict[JobState, int]:
        out: dict[JobState, int] = {}
        for sequence in self.sequences:
            for state, n in sequence.counts.items():
                out[state] = out.get(state, 0) + n
        return out

    @property
    def finished(self) -> bool:
        return all(s.state.finished for s in self.sequences)

    def _efficiency_json(self) -> dict[str, Any]:
        """Per sequence type: the usage line and the advice, as the console shows them."""
        figures: dict[SequenceType, list[tuple[Usage, float | None]]] = {kind: [] for kind in SequenceType}
        for s in self.sequences:
            figures[s.type] += (
                (r.usage, r.elapsed(r.end))
                for r in self.subruns.get(s.seq, ())
                if r.usage is not None and r.end is not None
            )
        return efficiency_json(figures, self.step_names, self.step_labels)

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "backend": self.backend,
            "profile": self.profile,
            "simulation": self.simulation,
            "taken_at": _iso(self.taken_at),
            "scheduler": {
                "ok": self.health.ok,
                "error": self.health.error,
                "last_ok": _iso(self.health.last_ok),
            },
            "closing": self.closing,
            "problems": list(self.problems),
            "hold": self.hold,
            "alerts": self.alerts,
            "events": [e.to_json() for e in self.events],
            "totals": {state.value: n for state, n in self.totals.items()},
            "efficiency": self._efficiency_json(),
            "sequences": [
                {
                    "seq": s.seq,
                    "type": s.type.value,
                    "run": s.run,
                    "drs4_run": s.drs4_run,
                    "parent": s.parent,
                    "subruns": s.subruns,
                    "state": s.state.value,
                    "counts": {state.value: n for state, n in s.counts.items()},
                    "progress": round(s.progress, 4),
                    "tries": s.tries,
                    "job_id": s.job_id,
                    "start": _iso(s.start),
                    "end": _iso(s.end),
                    "elapsed": s.elapsed(self.taken_at),
                    "reason": s.reason,
                    "source": self.sources.get(s.run) or None,
                }
                for s in self.sequences
            ],
            "subruns": [
                {
                    "seq": r.seq,
                    "run": r.run,
                    "subrun": r.subrun,
                    "state": r.state.value,
                    "attempt": r.attempt,
                    "job_id": r.job_id,
                    "exit_code": r.exit_code,
                    "node": r.node,
                    "start": _iso(r.start),
                    "end": _iso(r.end),
                    "reason": r.reason,
                    "usage": r.usage.to_json() if r.usage is not None else None,
                    "steps": [
                        {
                            "name": st.name,
                            "seconds": st.seconds,
                            "exit_code": st.exit_code,
                            "skipped": st.skipped,
                            "detail": st.detail,
                        }
                        for st in r.steps
                    ],
                }
                for s in self.sequences
                for r in self.subruns.get(s.seq, ())
            ],
        }


def efficiency_json(
    figures: Mapping[SequenceType, Iterable[tuple[Usage, float | None]]],
    step_names: Mapping[SequenceType, tuple[str, ...]],
    step_labels: Mapping[str, str],
) -> dict[str, Any]:
    """Per sequence type, from each finished task's usage and elapsed seconds: the usage line and
    the advice, as the console shows them."""
    out: dict[str, Any] = {}
    for kind in SequenceType:
        summary = summarise(figures.get(kind, ()))
        if summary is not None:
            label = job_label(step_names.get(kind, ()), step_labels)
            out[kind.value] = {
                "tasks": summary.tasks,
                "line": summary.line(label),
                "advice": summary.advice(),
            }
    return out


def usage_summary(subruns: Iterable[SubrunStatus]) -> UsageSummary | None:
    """What the finished subruns used of what they asked for (None: no figures yet)."""
    return summarise(
        (s.usage, s.elapsed(s.end)) for s in subruns if s.usage is not None and s.end is not None
    )


def job_label(steps: Sequence[str], labels: Mapping[str, str]) -> str:
    """What one job of a sequence runs: its step, or its first to last step (one job runs them all)."""
    names = [labels.get(step, step) for step in steps]
    if not names:
        return "job"
    return names[0] if len(names) == 1 else f"{names[0]} … {names[-1]} (one job)"


def frozen_counts(counts: Mapping[JobState, int]) -> Mapping[JobState, int]:
    return MappingProxyType(dict(counts))


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
