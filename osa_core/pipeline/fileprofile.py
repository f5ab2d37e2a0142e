"""A profile read from a file: the steps of each level built from its templates and placeholders.

Pure but for :meth:`FileProfile.prepare`, which runs the file's night-level hook. The file is
read (and checked) once per process: :func:`load_spec` caches by path and modification time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from osa_core.model.config import Config
from osa_core.model.errors import ConfigError, OsaError, PlanError
from osa_core.model.layout import NightLayout
from osa_core.pipeline.base import (
    CalibrationContext,
    CalibrationProducts,
    Profile,
    StepCommand,
    SubrunContext,
)
from osa_core.pipeline.hooks import PREPARE, SETTINGS
from osa_core.pipeline.placeholders import (
    calibration_values,
    closing_values,
    night_values,
    run_values,
    subrun_values,
    with_derived,
)
from osa_core.pipeline.spec import Condition, Group, Item, Level, ProfileSpec, StepSpec
from osa_core.pipeline.specfile import read_profile
from osa_core.pipeline.template import Value, defined, expand, expand_paths

_CACHE: dict[tuple[Path, int], ProfileSpec] = {}


def load_spec(path: Path) -> ProfileSpec:
    """The checked profile of a file (read again only when the file changed)."""
    try:
        key = (path.resolve(), path.stat().st_mtime_ns)
    except OSError:
        raise ConfigError("no such profile file", path=path) from None
    if key not in _CACHE:
        _CACHE[key] = read_profile(path)
    return _CACHE[key]


class FileProfile(Profile):
    """The steps a profile file describes, for the engine, the job side and the closer."""

    def __init__(self, config: Config, spec: ProfileSpec):
        super().__init__(config)
        self.spec = spec
        self.name = spec.name
        self.simulation = spec.simulation
        self.calibration_step_names = spec.step_names(Level.CALIBRATION)
        self.subrun_step_names = spec.step_names(Level.SUBRUN)
        self.merge_step_names = spec.step_names(Level.RUN)
        self.closing_step_names = spec.step_names(Level.CLOSING)
        self.step_labels = spec.labels
        self._settings = SETTINGS[spec.settings]
        self.stages = self._stages(config, spec)
        """Each optional stage: on or off, the file's default or the config's choice."""
        self._stage_values: dict[str, Value] = {n: "on" if on else None for n, on in self.stages.items()}

    @staticmethod
    def _stages(config: Config, spec: ProfileSpec) -> dict[str, bool]:
        chosen = config.pipeline.stages
        unknown = sorted(set(chosen) - set(spec.stages))
        if unknown:
            known = ", ".join(sorted(spec.stages)) or "none"
            raise ConfigError(
                f"pipeline.stages.{unknown[0]}: the profile {spec.path} has no such stage "
                f"(its stages: {known})",
                path=config.source,
            )
        return {name: chosen.get(name, on) for name, on in spec.stages.items()}

    def prepare(self, layout: NightLayout) -> None:
        hook = self.spec.level(Level.NIGHT).prepare
        if hook is not None:
            PREPARE[hook](self.config, layout)

    def calibration_steps(self, ctx: CalibrationContext) -> list[StepCommand]:
        return self._build(Level.CALIBRATION, ctx.layout, calibration_values(ctx))

    def subrun_steps(self, ctx: SubrunContext) -> list[StepCommand]:
        return self._build(Level.SUBRUN, ctx.layout, subrun_values(ctx))

    def merge_steps(
        self,
        layout: NightLayout,
        run: int,
        subruns: Sequence[int],
        calibration: CalibrationProducts | None = None,
    ) -> list[StepCommand]:
        """The closer's run-wise steps; ``subruns`` are the subruns whose files are inputs."""
        return self._build(Level.RUN, layout, run_values(layout, run, subruns, calibration))

    def closing_steps(self, layout: NightLayout, runs: Sequence[int]) -> list[StepCommand]:
        """The closing's night-wise job: the steps over every merged run's products."""
        return self._build(Level.CLOSING, layout, closing_values(layout, runs))

    def explain(
        self, level: Level, layout: NightLayout, given: dict[str, Value]
    ) -> tuple[list[StepCommand], list[tuple[str, str]]]:
        """The steps a task of this level runs, and those its conditions leave out (with why)."""
        skipped: list[tuple[str, str]] = []
        return self._build(level, layout, given, skipped), skipped

    def executable(self, step: str) -> str:
        """The configured executable of a step, or the file's (its variants are chosen by its name)."""
        for level in self.spec.levels.values():
            for s in level.steps:
                if s.name == step:
                    return self._settings.executables(self.config).get(step, s.executable)
        raise KeyError(step)

    # --- building -------------------------------------------------------------------------------
    def _build(
        self,
        level: Level,
        layout: NightLayout,
        given: dict[str, Value],
        skipped: list[tuple[str, str]] | None = None,
    ) -> list[StepCommand]:
        values = {**night_values(layout), **self._settings.values(self.config), **self._stage_values, **given}
        lspec = self.spec.level(level)
        base = with_derived(values, self.spec.placeholders)
        for name, message in lspec.requires:
            if not defined(base, name):
                raise PlanError(self._text(message, base))
        steps: list[StepCommand] = []
        for step in lspec.steps:
            step_values = values
            if self._settings.step_values is not None:
                extra = self._settings.step_values(self.config, level, step.name, values)
                step_values = {**values, **extra}
            resolved = (
                with_derived(step_values, self.spec.placeholders) if step_values is not values else base
            )
            if not self._wanted(step.condition, resolved, ()):
                if skipped is not None:
                    skipped.append((step.name, self._why_left_out(step.condition, resolved)))
                continue
            for name, message in step.requires:
                if not defined(resolved, name):
                    raise ConfigError(self._text(message, resolved), path=self.config.source)
            steps.append(self._command(step, resolved))
        if steps and lspec.first_note:
            note = expand(lspec.first_note, base)
            if note:
                steps[0] = dataclasses.replace(steps[0], note=note)
        return steps

    def _command(self, step: StepSpec, values: Mapping[str, Value]) -> StepCommand:
        executable = self._word(
            self._settings.executables(self.config).get(step.name, step.executable), values, step.name
        )
        argv_items, inputs, outputs, note = step.argv, step.inputs, step.outputs, step.note
        for exe_name, variant in step.variants:
            if Path(executable).name == exe_name:
                argv_items = variant.argv if variant.argv is not None else argv_items
                inputs = variant.inputs if variant.inputs is not None else inputs
                outputs = variant.outputs if variant.outputs is not None else outputs
                note = variant.note if variant.note is not None else note
        argv = (
            executable,
            *self._words(argv_items, values, step.name),
            *self._settings.extra_args(self.config).get(step.name, []),
        )
        return StepCommand(
            name=step.name,
            argv=argv,
            outputs=self._paths(outputs, values, argv, step.name),
            inputs=self._paths(inputs, values, argv, step.name),
            env=tuple((k, self._word(v, values, step.name)) for k, v in (*self.spec.env, *step.env)),
            note=expand(note, values) or "",
            skip_when_done=step.skip_when_done,
            path_prepend=tuple(self._word(p, values, step.name) for p in self.spec.path_prepend),
        )

    def _why_left_out(self, cond: Condition, values: Mapping[str, Value]) -> str:
        if cond.when and not defined(values, cond.when):
            return f"stage {cond.when} is off" if cond.when in self.stages else f"no {{{cond.when}}}"
        return f"stage {cond.unless} is on" if cond.unless in self.stages else f"{{{cond.unless}}} is set"

    @staticmethod
    def _wanted(cond: Condition, values: Mapping[str, Value], argv: Sequence[str]) -> bool:
        if cond.when and not defined(values, cond.when):
            return False
        if cond.unless and defined(values, cond.unless):
            return False
        return not (cond.unless_argv and cond.unless_argv in argv)

    def _word(self, word: str, values: Mapping[str, Value], step: str) -> str:
        text = expand(word, values)
        if text is None:
            raise OsaError(
                f"{self.spec.path}: step {step!r}: {word!r} names a placeholder with no value here"
            )
        return text

    def _words(self, items: Sequence[Item], values: Mapping[str, Value], step: str) -> list[str]:
        out: list[str] = []
        for item in items:
            if isinstance(item, Group):
                if self._wanted(item.condition, values, ()):
                    out.extend(self._word(w, values, step) for w in item.words)
            else:
                out.append(self._word(item, values, step))
        return out

    def _paths(
        self, items: Sequence[Item], values: Mapping[str, Value], argv: Sequence[str], step: str
    ) -> tuple[Path, ...]:
        out: list[Path] = []
        for item in items:
            if isinstance(item, Group):
                if not self._wanted(item.condition, values, argv):
                    continue
                words: tuple[str, ...] = item.words
            else:
                words = (item,)
            for word in words:
                paths = expand_paths(word, values)
                if paths is None:
                    raise OsaError(
                        f"{self.spec.path}: step {step!r}: {word!r} names a placeholder "
                        "with no value here (put it in a group with 'when')"
                    )
                out.extend(paths)
        return tuple(out)

    @staticmethod
    def _text(message: str, values: Mapping[str, Value]) -> str:
        """A requirement's message with what it names filled in (as written if it names the missing)."""
        return expand(message, values) or message
