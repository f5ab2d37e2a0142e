"""The configured profile, imported only when it is chosen (lstchain's only when a step runs)."""

from __future__ import annotations

from osa_core.model.config import Config
from osa_core.pipeline.base import Profile


def get_profile(config: Config) -> Profile:
    """The configured profile; lstchain itself is never imported here (only its executables run)."""
    if config.pipeline.profile == "lstchain":
        from osa_core.pipeline.lstchain import LstchainProfile

        return LstchainProfile(config)
    from osa_core.pipeline.simulate import SimulateProfile

    return SimulateProfile(config)
