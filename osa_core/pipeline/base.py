"""What a profile is: for a calibration pair or a subrun, the ordered step commands to run.

Profiles are pure: they build argument lists and name outputs; the job-side runner
(:mod:`osa_core.jobs.runner`) runs them as processes, times them and records them.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from osa_core.model.config import Config
from osa_core.model.layout import NightLayout
from osa_core.model.records import Sequence as NightSequence


@dataclass(frozen=True, slots=True)
class StepCommand:
    name: str
    """Step name as recorded (``r0_to_dl1``); the UI shows :attr:`Profile.step_labels`."""
    argv: tuple[str, ...]
    outputs: tuple[Path, ...] = ()
    """Files a successful run leaves; a rerun skips the step when its record is OK and these exist."""
    inputs: tuple[Path, ...] = ()
    """Files the step needs; a missing one fails the step before it starts, with that reason."""
    env: tuple[tuple[str, str], ...] = ()
    note: str = ""
    """Said in the job log before the step runs (e.g. "external calibration file used")."""
    skip_when_done: bool = True
    """A rerun may skip the step when an earlier attempt finished it and its outputs exist."""
    path_prepend: tuple[str, ...] = ()
    """Directories put first on PATH for the step (the job's own ``bin/``: lstchain's executables)."""


@dataclass(frozen=True, slots=True)
class CalibrationProducts:
    """The files a calibration sequence hands to its data sequences."""

    drs4: Path
    charge: Path
    time: Path
    external: tuple[str, ...] = ()
    """Which of drs4/charge/time come from the config instead of being computed."""


@dataclass(frozen=True, slots=True)
class CalibrationContext:
    layout: NightLayout
    drs4_run: int
    pedcal_run: int
    attempt: int
    products: CalibrationProducts


@dataclass(frozen=True, slots=True)
class SubrunContext:
    layout: NightLayout
    run: int
    subrun: int
    attempt: int
    calibration: CalibrationProducts | None


def calibration_of(sequences: Iterable[NightSequence], seq: int) -> NightSequence | None:
    """The calibration sequence data sequence ``seq`` depends on, if any."""
    by_seq = {s.seq: s for s in sequences}
    data = by_seq.get(seq)
    return by_seq.get(data.parent) if data is not None and data.parent is not None else None


class Profile(abc.ABC):
    name: str = "abstract"
    simulation: bool = False
    calibration_step_names: tuple[str, ...] = ()
    subrun_step_names: tuple[str, ...] = ()
    merge_step_names: tuple[str, ...] = ()
    closing_step_names: tuple[str, ...] = ()
    step_labels: dict[str, str] = {}

    def __init__(self, config: Config):
        self.config = config

    def calibration_products(
        self, layout: NightLayout, drs4_run: int, pedcal_run: int
    ) -> CalibrationProducts:
        """Computed files in the night's calibration directory, or the configured external ones."""
        ext = self.config.pipeline.calibration
        return CalibrationProducts(
            drs4=ext.drs4 or layout.drs4_file(drs4_run),
            charge=ext.charge or layout.charge_file(pedcal_run),
            time=ext.time or layout.time_file(pedcal_run),
            external=tuple(name for name in ("drs4", "charge", "time") if getattr(ext, name) is not None),
        )

    def run_calibration(
        self, layout: NightLayout, sequences: Iterable[NightSequence], seq: int
    ) -> CalibrationProducts | None:
        """The calibration products data sequence ``seq`` reads (None: it has no calibration
        sequence, and its steps take the config's external files)."""
        parent = calibration_of(sequences, seq)
        if parent is None or parent.drs4_run is None:
            return None
        return self.calibration_products(layout, parent.drs4_run, parent.run)

    def prepare(self, layout: NightLayout) -> None:  # noqa: B027 - most profiles read no config
        """Write what the night's steps read (configs) before anything is submitted."""

    @abc.abstractmethod
    def calibration_steps(self, ctx: CalibrationContext) -> list[StepCommand]:
        """The calibration job's steps, in order (external products are not recomputed)."""

    @abc.abstractmethod
    def subrun_steps(self, ctx: SubrunContext) -> list[StepCommand]:
        """One data subrun's steps, in order."""

    def merge_steps(
        self,
        layout: NightLayout,
        run: int,
        subruns: Sequence[int],
        calibration: CalibrationProducts | None = None,
    ) -> list[StepCommand]:
        """A closed run's run-wise steps (none: the closer merges by itself); ``calibration`` is the
        run's calibration sequence's products (None: the config's external files)."""
        return []

    def closing_steps(self, layout: NightLayout, runs: Sequence[int]) -> list[StepCommand]:
        """The night-wise steps at closing, over the merged runs' products (none by default)."""
        return []
