"""What every screen showing the night shares: the header, the banner, and snapshot delivery."""

from __future__ import annotations

import datetime as dt
from typing import cast

from textual.app import ComposeResult
from textual.screen import ModalScreen, Screen

from osa_console.app_port import ConsolePort
from osa_console.render import Palette
from osa_console.widgets.night_header import NightHeader
from osa_console.widgets.scheduler_banner import SchedulerBanner
from osa_core.model.snapshot import NightSnapshot, SubrunKey


class NightScreen(Screen[None]):
    """A screen the app hands every snapshot to (also while it is under another screen)."""

    where = ""
    """What the header says after the night (the screen's subject)."""
    ready = False
    """Composed and set up: snapshots delivered before that are read from the app at setup."""

    _pending: frozenset[SubrunKey] = frozenset()
    _pending_force = False

    def on_mount(self) -> None:
        self.ready = True
        # One frame for the whole build, not one per widget filled in.
        with self.app.batch_update():
            self.setup()

    def on_unmount(self) -> None:
        self.ready = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A key can arrive before the screen is composed (pressed right after the one that
        # opened it) or while it is being closed: its actions would find no widgets. Ignored.
        # (Not "on top" as well: the footer of a screen under a dialog would lose its keys.)
        return self.ready

    def setup(self) -> None:
        """Build the screen's widgets from the app's current snapshot (subclasses)."""

    @property
    def host(self) -> ConsolePort:
        # The console app is the only app these screens run in; the port is what they use of it.
        return cast(ConsolePort, self.app)

    @property
    def palette(self) -> Palette:
        return self.host.palette

    def now(self) -> dt.datetime:
        return self.host.settings.clock()

    def compose_top(self) -> ComposeResult:
        yield NightHeader()
        yield SchedulerBanner()

    def show_snapshot(
        self, snapshot: NightSnapshot | None, changed: frozenset[SubrunKey], force: bool = False
    ) -> None:
        if not self.ready:
            return  # it reads the app's snapshot in setup()
        if self._covered():
            # Hidden under another full screen: drawing now would only make the screen on top
            # repaint (Textual composes the screens below). Catch up when shown again.
            self._pending = self._pending | changed
            self._pending_force = self._pending_force or force
            return
        top = self._top()
        if top is None:
            return
        now = self.now()
        with self.app.batch_update():
            top[0].show(snapshot, now, self.palette, self.where, self.host.eta)
            top[1].show(snapshot, now)
            if snapshot is not None:
                self.apply(snapshot, changed, now, force)

    def _covered(self) -> bool:
        top = self.app.screen
        return top is not self and not isinstance(top, ModalScreen)

    def on_screen_resume(self) -> None:
        if self._pending or self._pending_force:
            changed, force = self._pending, self._pending_force
            self._pending, self._pending_force = frozenset(), False
            self.show_snapshot(self.host.snapshot, changed, force)

    def apply(
        self, snapshot: NightSnapshot, changed: frozenset[SubrunKey], now: dt.datetime, force: bool
    ) -> None:
        """Bring the screen's own widgets up to date with ``snapshot``."""

    def _top(self) -> tuple[NightHeader, SchedulerBanner] | None:
        """The header and the banner; None while the screen is being closed (dismissed, its
        widgets already removed, its unmount not yet run: a tick can fall in between)."""
        headers, banners = self.query(NightHeader), self.query(SchedulerBanner)
        if not headers or not banners:
            return None
        return headers.first(), banners.first()

    @property
    def live(self) -> bool:
        """Mounted and not being closed: its widgets can be drawn into."""
        return self.ready and self._top() is not None

    def show_header(self) -> None:
        """The top line again (a new ETA arrived)."""
        top = self._top()
        if top is not None:
            top[0].show(self.host.snapshot, self.now(), self.palette, self.where, self.host.eta)

    def tick(self) -> None:
        """Once a second: ages and running durations move with the clock."""
        top = self._top()
        if top is None:
            return
        now = self.now()
        snapshot = self.host.snapshot
        top[0].show(snapshot, now, self.palette, self.where, self.host.eta)
        top[1].show(snapshot, now)
