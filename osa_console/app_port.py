"""The part of the console app its screens and operations use, as Protocols.

Screens, the command palette and the operations reach the app through this shape rather than
through :class:`osa_console.app.OsaConsole`, which imports them all: the app assembles its
pieces, the pieces depend only on what they use of it (as ``engine_port.py`` does for the
engine), and no import goes back up to ``app.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Protocol

from osa_console.engine_port import EnginePort
from osa_console.render import Palette
from osa_console.settings import ConsoleSettings
from osa_core.model.actions import Selection
from osa_core.model.snapshot import NightSnapshot, SubrunKey

if TYPE_CHECKING:
    from osa_core.shift import Eta, NightSummary


class ActionsPort(Protocol):
    """The shifter's actions that go through a preview and a confirmation (``operations.py``)."""

    def resubmit(self, selection: Selection) -> None: ...

    def cancel(self, selection: Selection) -> None: ...

    def close_night(self) -> None: ...

    def push(self) -> None: ...


class NightsPort(Protocol):
    """The nights of the state directory (``osa_core.shift.NightsListing``): read in a worker."""

    def dates(self) -> tuple[list[dt.date], list[str]]:
        """Every night's date, newest first; and names that look like a night but are no date."""
        ...

    def summary(self, date: dt.date, eta: bool = True) -> NightSummary:
        """One night from its ledger (read-only); a bad ledger is a summary with a ``problem``.
        Without ``eta`` an unfinished night is not read whole (a few ms instead of ~100)."""
        ...


class NightSource(Protocol):
    """Where the night comes from: the engine once it is open, and its latest snapshot."""

    @property
    def engine(self) -> EnginePort | None: ...

    @property
    def snapshot(self) -> NightSnapshot | None: ...


class ConsolePort(NightSource, Protocol):
    """What a screen asks of the app: settings, colours, the actions, and where to go next."""

    @property
    def settings(self) -> ConsoleSettings: ...

    @property
    def palette(self) -> Palette: ...

    @property
    def operations(self) -> ActionsPort: ...

    @property
    def eta(self) -> Eta | None:
        """The open night's estimated end, from its latest snapshot (None until estimated)."""
        ...

    @property
    def nights(self) -> NightsPort | None:
        """Where the nights screen reads from; None: this console shows one night only."""
        ...

    def open_night(self, date: dt.date) -> None:
        """Show the night ``date`` instead of the open one (its own engine, refreshed live)."""
        ...

    def open_sequence(self, seq: int) -> None:
        """Show the subruns of sequence ``seq`` (a new screen on top)."""
        ...

    def open_log(self, key: SubrunKey) -> None:
        """Show the log of subrun ``key``, or say why there is none."""
        ...
