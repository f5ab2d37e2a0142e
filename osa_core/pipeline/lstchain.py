"""The ``lstchain`` profile: LST-1's chain (lstchain 0.12), described in ``cfg/profiles/lstchain.toml``.

The steps, their argv, inputs and outputs are in the profile file; what cannot be data, writing
the JSON configs the commands read, is in :mod:`osa_core.pipeline.lstchain_setup` (re-exported
here). See ``docs/lstchain-profile.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

from osa_core.model.config import Config
from osa_core.model.layout import NightLayout
from osa_core.pipeline.base import CalibrationProducts, StepCommand
from osa_core.pipeline.fileprofile import FileProfile, load_spec
from osa_core.pipeline.lstchain_setup import (
    camera_calibration_config_path,
    standard_config_path,
    write_camera_calibration_config,
    write_setup_files,
    write_standard_config,
)
from osa_core.pipeline.placeholders import external_note

__all__ = [
    "LstchainProfile",
    "camera_calibration_config_path",
    "external_note",
    "merge_steps",
    "standard_config_path",
    "write_camera_calibration_config",
    "write_setup_files",
    "write_standard_config",
]


class LstchainProfile(FileProfile):
    """The lstchain profile file the configuration runs (a site's own beside it, else the shipped one)."""

    def __init__(self, config: Config):
        from osa_core.pipeline.factory import profile_path, shipped_profile

        path = profile_path(config) if config.pipeline.profile == "lstchain" else shipped_profile("lstchain")
        super().__init__(config, load_spec(path))


def merge_steps(
    layout: NightLayout, run: int, subruns: Sequence[int], calibration: CalibrationProducts | None = None
) -> list[StepCommand]:
    """The closer's run-wise merge commands: the ``[run]`` level of the configured profile file."""
    from osa_core.pipeline.factory import get_file_profile

    return get_file_profile(layout.config).merge_steps(layout, run, subruns, calibration)
