"""The ``simulate`` profile (``cfg/profiles/simulate.toml``): placeholder steps for demos and tests.

Every step waits a configured time and writes a small placeholder (:mod:`osa_core.pipeline.simstep`).
Everything it produces says ``"simulated": true``; the snapshot carries ``simulation=True`` so
every front end labels it. The steps are in the profile file; what stays here is the event count
each placeholder carries, which the closer's merge checks.
"""

from __future__ import annotations

from osa_core.model.config import Config
from osa_core.pipeline.fileprofile import FileProfile, load_spec
from osa_core.pipeline.hooks import EVENTS_BASE, simulated_events

__all__ = ["EVENTS_BASE", "SimulateProfile", "simulated_events"]


class SimulateProfile(FileProfile):
    """The shipped ``simulate.toml``."""

    def __init__(self, config: Config):
        from osa_core.pipeline.factory import shipped_profile

        super().__init__(config, load_spec(shipped_profile("simulate")))
