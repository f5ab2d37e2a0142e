"""The named hooks a profile file may refer to: what must stay code, kept small.

- *settings* (``settings = "lstchain"``): the placeholders a profile takes from its config
  section (for lstchain, ``{models}`` per run when it is a model tree: the declination line of
  :mod:`osa_core.pipeline.rfmodels`), and the per-step overrides of executables and extra arguments;
- *prepare* (``[night] prepare = "lstchain_setup_files"``): files written once per night
  before submitting (lstchain's JSON configs need lstchain itself to write them).

A file naming a hook that is not here is refused when read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from osa_core.model.config import Config
from osa_core.model.errors import PlanError
from osa_core.model.layout import NightLayout
from osa_core.pipeline.rfmodels import DecLine, choose_dec_line, dec_lines
from osa_core.pipeline.runcatalog import cached_catalogue, run_catalogue
from osa_core.pipeline.spec import Level
from osa_core.pipeline.template import Value


@dataclass(frozen=True)
class Settings:
    """Where a profile's configurable values come from."""

    names: frozenset[str] = frozenset()
    """Placeholders given at every level (from the config)."""
    step_names: frozenset[str] = frozenset()
    """Placeholders given per step (they may depend on the step, run and attempt)."""
    values: Callable[[Config], dict[str, Value]] = field(default=lambda config: {})
    step_values: Callable[[Config, Level, str, Mapping[str, Value]], dict[str, Value]] | None = None
    """Placeholders that depend on the step or the run (called for every step built)."""
    executables: Callable[[Config], Mapping[str, str]] = field(default=lambda config: {})
    extra_args: Callable[[Config], Mapping[str, list[str]]] = field(default=lambda config: {})


def _lstchain_values(config: Config) -> dict[str, Value]:
    lst = config.pipeline.lstchain
    return {
        "lstchain_config_file": lst.config,
        "models": lst.models,
        "pointing": lst.pointing,
        "run_summary_dir": lst.run_summary_dir,
        "max_events": lst.max_events if lst.max_events > 0 else None,
    }


def _lstchain_step_values(
    config: Config, level: Level, step: str, values: Mapping[str, Value]
) -> dict[str, Value]:
    """``{models}`` per run: a model tree's declination line nearest the run's pointing."""
    models = config.pipeline.lstchain.models
    if models is None or level not in (Level.SUBRUN, Level.RUN):
        return {}
    lines = _cached_lines(models)
    if not lines:
        return {}  # a directory of models, used as it is
    run = int(values["run"])  # type: ignore[arg-type]
    catalogue = run_catalogue(config, str(values["night"]))
    if catalogue is None:
        raise PlanError(
            f"run {run}: pipeline.lstchain.models is a model tree; choosing its declination line needs "
            "the run's pointing from the run catalogue: set pipeline.lstchain.run_catalog_dir (or "
            "run_summary_dir, whose sibling RunCatalog/ is used)"
        )
    entry = cached_catalogue(catalogue).get(run)
    pointing = entry.dec if entry is not None else None
    if pointing is None and not catalogue.exists():
        raise PlanError(
            f"run {run}: pipeline.lstchain.models is a model tree; choosing its declination line "
            f"needs the run's pointing from the run catalogue {catalogue}, which does not exist"
        )
    return {"models": models / choose_dec_line(run, pointing, lines).name}


@functools.lru_cache(maxsize=8)
def _cached_lines(tree: Path) -> tuple[DecLine, ...]:
    return dec_lines(tree)


# Placeholder event counts: deterministic per (run, subrun) so merges can be checked.
EVENTS_BASE = 1000


def simulated_events(run: int, subrun: int) -> int:
    """The events a simulated step's placeholder says it holds (the closer's merge adds them up)."""
    return EVENTS_BASE + (run * 7 + subrun * 13) % 500


def _simulate_step_values(
    config: Config, level: Level, step: str, values: Mapping[str, Value]
) -> dict[str, Value]:
    sim = config.pipeline.simulate
    if level is Level.CLOSING:  # the night-wise job: no run, no subrun, no injected failure
        seconds = str(sim.step_seconds.get(step, sim.default_seconds))
        return {"seconds": seconds, "events": None, "fail_exit_code": None, "fail_allocate_mb": None}
    run = int(values["run"])  # type: ignore[arg-type]
    subrun = int(values["subrun"]) if level is Level.SUBRUN else None  # type: ignore[arg-type]
    attempt = int(values["attempt"])  # type: ignore[arg-type]
    out: dict[str, Value] = {
        "seconds": str(sim.step_seconds.get(step, sim.default_seconds)),
        "events": str(simulated_events(run, subrun or 0)),
        "fail_exit_code": None,
        "fail_allocate_mb": None,
    }
    for failure in sim.failures:
        if (
            failure.run == run
            and failure.step == step
            and (failure.subrun is None or failure.subrun == subrun)
            and attempt in failure.attempts
        ):
            out["fail_exit_code"] = str(failure.exit_code)
            out["fail_allocate_mb"] = str(failure.allocate_mb) if failure.allocate_mb else None
            break
    return out


SETTINGS: dict[str, Settings] = {
    "none": Settings(),
    "lstchain": Settings(
        names=frozenset({"lstchain_config_file", "models", "pointing", "run_summary_dir", "max_events"}),
        values=_lstchain_values,
        step_values=_lstchain_step_values,
        executables=lambda config: config.pipeline.lstchain.executables,
        extra_args=lambda config: config.pipeline.lstchain.extra_args,
    ),
    "simulate": Settings(
        step_names=frozenset({"seconds", "events", "fail_exit_code", "fail_allocate_mb"}),
        step_values=_simulate_step_values,
    ),
}


def _lstchain_setup_files(config: Config, layout: NightLayout) -> None:
    from osa_core.pipeline.lstchain_setup import write_setup_files  # lazy: it imports lstchain to write

    write_setup_files(config, layout)


PREPARE: dict[str, Callable[[Config, NightLayout], None]] = {
    "lstchain_setup_files": _lstchain_setup_files,
}
