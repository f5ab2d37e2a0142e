"""The raw-data watchdog: the subruns the night file announces against the raw files on disk.

A run is submitted only when every raw file its sequence reads is there (a data run: one file per
planned subrun; a calibration: subrun 0 of its DRS4 and PEDCALIB runs), so a run still being
copied never fails 200 subruns with "missing input". A run whose files are still incomplete
``raw_grace_minutes`` after it ended is a condition for a person. The night file gives only run
starts: a run ends when the next one starts, the last one when the night file last changed.
The raw directory is listed once per pass, never stat'ed per file (a night has ~10,000).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from osa_core.model.conditions import Condition, ConditionKind
from osa_core.model.layout import NightLayout
from osa_core.model.records import Run
from osa_core.model.records import Sequence as PlannedSequence


@dataclass(frozen=True, slots=True)
class Waiting:
    """A sequence held back: how many of its raw files are missing, and since when it is over."""

    seq: int
    run: int
    missing: int
    expected: int
    first_missing: str
    late: bool

    def line(self) -> str:
        state = "late" if self.late else "waiting"
        return (
            f"run {self.run:05d}: {state} for {self.missing} of {self.expected} raw files"
            f" (first missing: {self.first_missing})"
        )


@dataclass(frozen=True, slots=True)
class RawCheck:
    ready: frozenset[int]
    """Sequences whose raw files are all on disk."""
    waiting: tuple[Waiting, ...]

    @property
    def conditions(self) -> tuple[Condition, ...]:
        return tuple(
            Condition(
                ConditionKind.RAW_FILES_MISSING,
                f"run={w.run}",
                f"run {w.run:05d}: {w.missing} of {w.expected} raw files still missing after the run"
                f" ended (first: {w.first_missing})",
                "Check the data transfer from the camera servers; the run is submitted as soon as "
                "its files are all there.",
            )
            for w in self.waiting
            if w.late
        )


def raw_files(layout: NightLayout, sequence: PlannedSequence) -> list[Path]:
    """The raw files a sequence's jobs read, in the order a person would look for them."""
    if sequence.is_calibration:
        runs = [r for r in (sequence.drs4_run, sequence.run) if r is not None]
        return [layout.raw_file(run, 0) for run in runs]
    return [layout.raw_file(sequence.run, subrun) for subrun in range(sequence.subruns)]


def run_ends(runs: Iterable[Run], night_file_changed: dt.datetime) -> dict[int, dt.datetime]:
    """When each run ended, as far as the night file tells: the next run's start, else its last change."""
    ordered = sorted(runs, key=lambda r: (r.start, r.run))
    ends: dict[int, dt.datetime] = {}
    for here, after in zip(ordered, [*ordered[1:], None], strict=True):
        ends[here.run] = after.start if after is not None else max(here.start, night_file_changed)
    return ends


def check_raw(
    layout: NightLayout,
    sequences: Sequence[PlannedSequence],
    ends: dict[int, dt.datetime],
    now: dt.datetime,
    grace: dt.timedelta,
) -> RawCheck:
    """Which of ``sequences`` (those not yet submitted) can go, and which wait on files."""
    present = _listing(layout.raw_dir)
    ready: set[int] = set()
    waiting: list[Waiting] = []
    for sequence in sequences:
        files = raw_files(layout, sequence)
        missing = [p for p in files if p.name not in present]
        if not missing:
            ready.add(sequence.seq)
            continue
        runs = [r for r in (sequence.drs4_run, sequence.run) if r is not None]
        ended = max((ends[r] for r in runs if r in ends), default=None)
        late = ended is not None and now - ended > grace
        waiting.append(Waiting(sequence.seq, sequence.run, len(missing), len(files), missing[0].name, late))
    return RawCheck(frozenset(ready), tuple(waiting))


def _listing(directory: Path) -> frozenset[str]:
    try:
        with os.scandir(directory) as entries:
            return frozenset(entry.name for entry in entries)
    except FileNotFoundError:
        return frozenset()
