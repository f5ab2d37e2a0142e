"""What a submission needs besides the night file, checked before anything is submitted.

A configured calibration file that does not exist used to be accepted by ``submit`` (exit 0),
and every data subrun then failed with "missing input" an hour later. Whatever the jobs will
read from the configuration, and the work area sbatch is given, is checked here first: one
clear message, an exit code, nothing submitted.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from osa_core.model.config import Config
from osa_core.model.errors import ConfigError, InputError
from osa_core.model.fileio import bounded
from osa_core.model.layout import NightLayout

# Each file or directory a job reads because the configuration names it: (key, kind).
_CALIBRATION = (("drs4", "file"), ("charge", "file"), ("time", "file"))
_LSTCHAIN = (
    ("config", "file"),
    ("models", "directory"),
    ("pointing", "file"),
    ("run_summary_dir", "directory"),
)
STAT_DEADLINE = 10.0
"""Seconds a stat may take before the file system counts as stalled."""


def check_submission_inputs(config: Config, layout: NightLayout) -> None:
    """Raise :class:`ConfigError` for the first input a submission of this night would miss."""
    where = f" in {config.source}" if config.source else ""
    _check_work_area(layout, where)
    calibration = config.pipeline.calibration
    for name, kind in _CALIBRATION:
        path = getattr(calibration, name)
        if path is not None:
            _check(Path(path), kind, f"pipeline.calibration.{name}{where}", "remove the key to compute it")
    if config.pipeline.profile == "lstchain":
        lstchain = config.pipeline.lstchain
        for name, kind in _LSTCHAIN:
            path = getattr(lstchain, name)
            if path is not None:
                _check(Path(path), kind, f"pipeline.lstchain.{name}{where}", "remove the key")


def _check_work_area(layout: NightLayout, where: str) -> None:
    # sbatch reads a script path or an --output pattern with a line break as something else
    # ("This does not look like a batch script"); no directive can carry it either.
    analysis = str(layout.analysis_dir)
    if any(c in analysis for c in "\n\r"):
        raise ConfigError(
            f"the night's work area {analysis!r} holds a line break, which no batch job can be given: "
            f"rename the directory set by paths.analysis{where} (or night.prod_id); nothing was submitted"
        )


def _check(path: Path, kind: str, key: str, alternative: str) -> None:
    def look() -> os.stat_result | None:
        try:
            return os.stat(path)
        except FileNotFoundError:
            return None

    try:
        info = bounded(look, STAT_DEADLINE, path, f"checking {key}")
    except InputError as exc:  # a stalled mount: the jobs would stall on it too
        raise ConfigError(exc.message, path=path) from None
    except OSError as exc:
        raise ConfigError(f"{key}: cannot be read ({exc.strerror or exc}); nothing was submitted", path=path)
    wanted = stat.S_ISDIR if kind == "directory" else stat.S_ISREG
    if info is None:
        raise ConfigError(
            f"no such {kind}, named by {key}: nothing was submitted; fix the path, or {alternative}",
            path=path,
        )
    if not wanted(info.st_mode):
        raise ConfigError(f"not a {kind}, named by {key}: nothing was submitted; fix the path", path=path)
