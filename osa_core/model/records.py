"""Typed records of a night: runs as read, and the plan made of them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from osa_core.model.states import RunType, SequenceType


@dataclass(frozen=True, slots=True)
class Run:
    """One line of a night file."""

    run: int
    subruns: int
    type: RunType
    start: dt.datetime  # UTC, timezone-aware
    raw_type: str  # as written in the file (CALI, PEDCALIB, ERROR, ...)
    line: int | None = None  # line in the source file, for messages


@dataclass(frozen=True, slots=True)
class Sequence:
    """A unit of submission: one calibration pair, or one DATA run (a job array)."""

    seq: int
    type: SequenceType
    run: int  # for calibration: the PEDCALIB run
    subruns: int
    parent: int | None = None  # the parent calibration sequence's ``seq``
    drs4_run: int | None = None  # calibration only

    @property
    def job_name(self) -> str:
        return f"LST1_{self.run:05d}"

    @property
    def is_calibration(self) -> bool:
        return self.type is SequenceType.CALIBRATION


@dataclass(frozen=True, slots=True)
class SkippedRun:
    run: int
    type: str
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """The sequences of one night, what was left out and why, and what is wrong."""

    date: dt.date
    sequences: tuple[Sequence, ...]
    skipped: tuple[SkippedRun, ...] = ()
    problems: tuple[str, ...] = ()
    source: str | None = field(default=None, compare=False)

    def by_seq(self, seq: int) -> Sequence:
        for sequence in self.sequences:
            if sequence.seq == seq:
                return sequence
        raise KeyError(seq)

    def by_run(self, run: int) -> Sequence:
        for sequence in self.sequences:
            if sequence.run == run:
                return sequence
        raise KeyError(run)

    @property
    def calibrations(self) -> tuple[Sequence, ...]:
        return tuple(s for s in self.sequences if s.is_calibration)

    @property
    def data(self) -> tuple[Sequence, ...]:
        return tuple(s for s in self.sequences if not s.is_calibration)

    def to_json(self) -> dict[str, object]:
        return {
            "date": self.date.isoformat(),
            "source": self.source,
            "sequences": [
                {
                    "seq": s.seq,
                    "type": s.type.value,
                    "run": s.run,
                    **({"drs4_run": s.drs4_run} if s.is_calibration else {}),
                    "subruns": s.subruns,
                    "parent": s.parent,
                    "job_name": s.job_name,
                }
                for s in self.sequences
            ],
            "skipped": [{"run": k.run, "type": k.type, "reason": k.reason} for k in self.skipped],
            "problems": list(self.problems),
        }
