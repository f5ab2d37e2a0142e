"""The files lstchain's commands read, written once per night: its standard and camera-calibration configs.

The ``[night] prepare = "lstchain_setup_files"`` hook of ``cfg/profiles/lstchain.toml``. These
are the only functions of osa-core that import lstchain, lazily, so importing this module costs
nothing (the console and ``status`` never pay lstchain's 6-40 s import).
"""

from __future__ import annotations

import json
from pathlib import Path

from osa_core.model.config import Config
from osa_core.model.fileio import atomic_write
from osa_core.model.layout import NightLayout


# --- where the profile's own files are ---------------------------------------------------------
def standard_config_path(layout: NightLayout) -> Path:
    """The full standard lstchain config, used when ``pipeline.lstchain.config`` is not set."""
    return layout.analysis_dir / "lstchain_standard_config.json"


def camera_calibration_config_path(layout: NightLayout) -> Path:
    """lstchain's onsite camera-calibration config, read by the time and charge calibration tools.

    These two paths are also the profile file's ``{lstchain_config}`` (when ``pipeline.lstchain.config``
    is not set) and ``{camera_calibration_config}``: the golden test keeps them equal.
    """
    return layout.calibration_dir / "onsite_camera_calibration_param.json"


# --- the few functions that write files (and import lstchain) -------------------------------------
def write_standard_config(path: Path, pointing_information: bool) -> Path:
    """Write lstchain's full standard config as JSON, with ``pointing_information`` set.

    The full config, not a partial one: lstchain_data_r0_to_dl1 does not merge a partial config
    with its standard one and fails. ``pointing_information`` must be true exactly when a drive
    log is passed (``pipeline.lstchain.pointing``): true without one fails R0->DL1, false with one
    ignores it. Written atomically, so a running job never reads half a file.
    """
    from lstchain.io.config import get_standard_config  # lazy: importing lstchain takes 6-40 s

    config = get_standard_config()
    config["source_config"]["LSTEventSource"]["pointing_information"] = pointing_information
    # json writes inf as Infinity, which lstchain's reader (json.load) reads back.
    return _write_atomic(path, json.dumps(config, indent=2))


def write_camera_calibration_config(path: Path) -> Path:
    """Copy lstchain's onsite camera-calibration config (tel_id, extractors, sample sizes).

    Without it lstchain_create_calibration_file stops at once: its calculators default to
    telescope 0.
    """
    from lstchain.onsite import DEFAULT_CONFIG  # lazy, as above

    return _write_atomic(path, Path(DEFAULT_CONFIG).read_text())


def write_setup_files(config: Config, layout: NightLayout) -> list[Path]:
    """Write the JSON configs the night's commands read, unless they exist; returns those written.

    The engine calls this once per night before submitting, on a host with lstchain installed.
    """
    written = []
    if config.pipeline.lstchain.config is None and not standard_config_path(layout).exists():
        pointing = config.pipeline.lstchain.pointing is not None
        written.append(write_standard_config(standard_config_path(layout), pointing_information=pointing))
    # Only the time and charge calibration tools read it: not needed when both are external.
    ext = config.pipeline.calibration
    calibrating = ext.time is None or ext.charge is None
    if calibrating and not camera_calibration_config_path(layout).exists():
        written.append(write_camera_calibration_config(camera_calibration_config_path(layout)))
    return written


def _write_atomic(path: Path, text: str) -> Path:
    atomic_write(path, text)
    return path
