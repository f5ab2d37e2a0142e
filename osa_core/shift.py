"""The shift's view beyond one night's engine, for front ends: the nights, the ETA, the failures.

A front end that holds an :class:`osa_core.engine.Engine` for one night also needs what spans
nights (the nights of the state directory, each summed up from its ledger without asking the
scheduler) and what a snapshot says once read as a whole (when the night will be done, its
failures grouped by signature). The console may import the engine's front door and the model
only; this module is that front door for those readings, beside ``engine.py`` in its layer, so
that the engine itself stays one night's plan, submissions and actions.
"""

from __future__ import annotations

import datetime as dt

from osa_core.model.config import Config
from osa_core.model.layout import NightLayout
from osa_core.model.snapshot import NightSnapshot
from osa_core.pipeline.factory import get_profile
from osa_core.publish.publisher import manifest_path
from osa_core.track.eta import Eta
from osa_core.track.eta import estimate as _estimate
from osa_core.track.frame import Profile
from osa_core.track.nights import NightSummary, night_dirs, summarise
from osa_core.track.signatures import FailureGroup
from osa_core.track.signatures import failure_groups as _failure_groups

__all__ = ["Eta", "FailureGroup", "NightSummary", "NightsListing", "eta", "failure_groups", "nights"]


def eta(snapshot: NightSnapshot) -> Eta:
    """When the night will be done, and on what basis (``track/eta.py``); pure, a few ms."""
    return _estimate(snapshot)


def failure_groups(snapshot: NightSnapshot) -> tuple[FailureGroup, ...]:
    """The night's failed subruns grouped by signature, the largest group first."""
    return _failure_groups(snapshot)


class NightsListing:
    """The nights of one configuration's state directory (``osa-core nights``'s reading).

    Each call reads the ledgers again, read-only; a night whose ledger is missing, damaged or of
    another schema is a summary whose ``problem`` says so. Only nights with subruns left are
    read whole (for their ETA): finished nights cost one table scan and no scheduler query.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        profile = get_profile(config)
        self._profile = Profile.of(profile)

    def dates(self) -> tuple[list[dt.date], list[str]]:
        """Every night's date, newest first, and directories that look like a night but are no date."""
        found, bad = night_dirs(self.config.paths.state)
        return sorted(found, reverse=True), bad

    def summary(self, date: dt.date, eta: bool = True) -> NightSummary:
        """One night; ``eta`` False skips reading an unfinished night whole (its ``eta`` is None)."""
        layout = NightLayout(self.config, date)
        profile = self._profile if eta else None
        backend = self.config.scheduler.backend
        return summarise(date, layout.ledger_path, manifest_path(layout), profile, backend)


def nights(config: Config, last: int = 30) -> list[NightSummary]:
    """The ``last`` nights (0: all), newest first."""
    listing = NightsListing(config)
    dates, _ = listing.dates()
    return [listing.summary(date) for date in (dates[:last] if last else dates)]
