"""What a profile file says, as typed data: levels, steps, argument templates, conditions.

Read and checked by :mod:`osa_core.pipeline.specfile`; turned into step commands by
:mod:`osa_core.pipeline.fileprofile`. The format is documented in ``docs/profile-format.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Level(StrEnum):
    """When a stage runs: once per night, per calibration pair, per data subrun, per run at closing,
    and once per night at closing over every run's products."""

    NIGHT = "night"
    CALIBRATION = "calibration"
    SUBRUN = "subrun"
    RUN = "run"
    CLOSING = "closing"


@dataclass(frozen=True, slots=True)
class Condition:
    """Include something only when a placeholder is (``when``) or is not (``unless``) defined.

    ``unless_argv``: only when the step's built argv (extra arguments included) lacks that word.
    """

    when: str | None = None
    unless: str | None = None
    unless_argv: str | None = None


@dataclass(frozen=True, slots=True)
class Group:
    """Words added together or not at all (``--pointing-file {pointing}``)."""

    condition: Condition
    words: tuple[str, ...]


Item = str | Group


@dataclass(frozen=True, slots=True)
class Variant:
    """What a step becomes when its configured executable has another name (a site's choice)."""

    argv: tuple[Item, ...] | None = None
    inputs: tuple[Item, ...] | None = None
    outputs: tuple[Item, ...] | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class StepSpec:
    name: str
    label: str
    executable: str
    argv: tuple[Item, ...]
    inputs: tuple[Item, ...] = ()
    outputs: tuple[Item, ...] = ()
    condition: Condition = Condition()
    requires: tuple[tuple[str, str], ...] = ()
    """(placeholder, message): building the step without it is a configuration error."""
    note: str = ""
    env: tuple[tuple[str, str], ...] = ()
    skip_when_done: bool = True
    """A rerun skips the step when an earlier attempt finished it and its outputs exist."""
    variants: tuple[tuple[str, Variant], ...] = ()
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Resources:
    """The least a task of this level needs (shown by ``plan``; a lower configured value is a warning)."""

    memory: str | None = None
    walltime: str | None = None


@dataclass(frozen=True, slots=True)
class LevelSpec:
    level: Level
    steps: tuple[StepSpec, ...] = ()
    requires: tuple[tuple[str, str], ...] = ()
    """(placeholder, message): a task of this level cannot be built without it (a plan error)."""
    first_note: str = ""
    """Said before the first step that runs (e.g. which calibration files are external)."""
    resources: Resources = Resources()
    prepare: str | None = None
    """Night level: the named hook that writes the night's shared files before submitting."""


@dataclass(frozen=True, slots=True)
class ProfileSpec:
    path: Path
    name: str
    description: str
    simulation: bool
    settings: str
    """The named hook giving the config's placeholders, executables and extra arguments."""
    env: tuple[tuple[str, str], ...]
    path_prepend: tuple[str, ...]
    placeholders: dict[str, tuple[str, ...]]
    """Derived placeholders: templates, the first defined alternative wins."""
    levels: dict[Level, LevelSpec] = field(default_factory=dict)
    stages: dict[str, bool] = field(default_factory=dict)
    """Optional stages, on or off by default: each is a placeholder at every level, defined when the
    stage is on (steps say ``when = "dl1ab"``); ``pipeline.stages`` in the config overrides them."""

    def level(self, level: Level) -> LevelSpec:
        return self.levels.get(level) or LevelSpec(level)

    def step_names(self, level: Level) -> tuple[str, ...]:
        return tuple(s.name for s in self.level(level).steps)

    @property
    def labels(self) -> dict[str, str]:
        return {s.name: s.label for lv in self.levels.values() for s in lv.steps}
