"""The console application: assembles engine, refresher, screens, themes and commands."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.screen import Screen
from textual.theme import Theme

from osa_console import prefs
from osa_console.app_port import NightsPort
from osa_console.commands import console_commands
from osa_console.engine_port import EnginePort
from osa_console.heap import HeapPolicy
from osa_console.messages import ActionFinished, RefreshFailed, SnapshotArrived
from osa_console.operations import Operations
from osa_console.refresher import Refresher
from osa_console.render import STATE_VARIABLES, Palette
from osa_console.screens.activity_screen import ActivityScreen
from osa_console.screens.closing_screen import ClosingScreen
from osa_console.screens.command_palette import SafeCommandPalette
from osa_console.screens.detail_screen import DetailScreen
from osa_console.screens.failures_screen import FailuresScreen
from osa_console.screens.handover_screen import HandoverScreen
from osa_console.screens.help_screen import HelpScreen
from osa_console.screens.log_screen import LogScreen
from osa_console.screens.night_screen import NightScreen
from osa_console.screens.nights_screen import NightsScreen
from osa_console.screens.overview_screen import OverviewScreen
from osa_console.screens.report_dialog import ReportDialog
from osa_console.settings import ConsoleSettings
from osa_console.theme_loader import DEFAULT_THEME, THEME_ORDER, bundled_themes
from osa_core.model.actions import ActionReport, Selection
from osa_core.model.snapshot import NightSnapshot, SubrunKey

if TYPE_CHECKING:
    from osa_core.shift import Eta, FailureGroup

EngineFactory = Callable[[], EnginePort]
NightOpener = Callable[[dt.date], EnginePort]
"""Opens another night's engine (the nights screen's ``enter``); called in a worker thread."""
StartHook = Callable[[EnginePort], Awaitable[ActionReport | None] | ActionReport | None]
"""Run once the night is open (the demo submits its night); a report it returns is shown."""
ETA_EVERY = 10.0
"""Seconds between two estimates of the night's end while its state of work is unchanged."""


class OsaConsole(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "LST-1 OSA console"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh"),
        Binding("A", "resubmit_all", "Resubmit all failed"),
        Binding("C", "close_night", "Close night"),
        Binding("P", "push", "Push datacheck"),
        Binding("F", "failures", "Failures"),
        Binding("D", "nights", "Nights", show=False),
        Binding("E", "activity", "Activity", show=False),
        Binding("H", "handover", "Handover report", show=False),  # the footer is full: ? and ctrl+p list it
        Binding("J", "closing_jobs", "Closing jobs", show=False),
        Binding("t", "next_theme", "Theme"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]
    KEY_HELP: ClassVar[dict[str, str]] = {
        "refresh": "refresh now (one scheduler query) instead of waiting",
        "resubmit_all": "resubmit the failed subruns of the whole night (asks first)",
        "close_night": "close the night: merge, move, mark finished (asks first)",
        "push": "push the datacheck products to the web server (asks first)",
        "failures": "the night's failures grouped by signature: resubmit, exclude a node, cancel, log",
        "nights": "the last nights (dates) from their ledgers; enter opens one",
        "activity": "the night's activity: the autopilot's decisions and why, who did what, alerts",
        "handover": "the shift's handover report: failures by signature, who resubmitted, what is open",
        "closing_jobs": "the closing's jobs: each run's merge job and the night-wise checks, step by step",
        "next_theme": "next theme: dark, light, night (red on black); remembered",
        "help": "this help",
        "quit": "quit (jobs keep running, on SLURM and on the local executor alike)",
    }

    def __init__(
        self,
        engine_factory: EngineFactory,
        settings: ConsoleSettings | None = None,
        on_start: StartHook | None = None,
        *,
        nights: NightsPort | None = None,
        night_opener: NightOpener | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings or ConsoleSettings()
        self._factory = engine_factory
        self._on_start = on_start
        self.nights = nights
        self._night_opener = night_opener
        self.engine: EnginePort | None = None
        self.snapshot: NightSnapshot | None = None
        self.eta: Eta | None = None
        self._eta_at, self._eta_finished = 0.0, False
        self.followed_failures: dict[str, FailureGroup] = {}
        """Failure groups acted on, for the failures screen; per night."""
        self.refresher: Refresher | None = None
        self.operations = Operations(self, self, read_only=self.settings.read_only)
        self.heap = HeapPolicy(enabled=self.settings.freeze_heap)
        self.reports: list[ActionReport] = []
        self.open_error: str | None = None
        self._palette: tuple[str, Palette] | None = None
        for theme in bundled_themes():
            self.register_theme(theme)
        self.theme = self._initial_theme()

    def _initial_theme(self) -> str:
        for name in (self.settings.theme, prefs.load(self.settings.prefs_path).theme):
            if name and name in self.available_themes:
                return name
        return DEFAULT_THEME

    def get_theme_variable_defaults(self) -> dict[str, str]:
        # Our CSS uses these; a built-in theme chosen from the palette does not define them.
        return {
            **{name: f"${fallback}" for name, fallback in STATE_VARIABLES.items()},
            "banner-background": "$error",
        }

    @property
    def palette(self) -> Palette:
        """Colours of states for the current theme (rebuilt when the theme changes)."""
        if self._palette is None or self._palette[0] != self.theme:
            self._palette = (self.theme, Palette.from_variables(self.get_css_variables()))
        return self._palette[1]

    def get_default_screen(self) -> Screen[None]:
        return OverviewScreen()

    def action_command_palette(self) -> None:
        # Textual's own, but one that a page key cannot crash (screens/command_palette.py).
        # No id: a palette still closing holds it, and a second one would be a DuplicateIds crash.
        if self.use_command_palette and not isinstance(self.screen, CommandPalette):
            self.push_screen(SafeCommandPalette())

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from console_commands(self, screen)

    # ------------------------------------------------------------------------------------------
    # start: the first frame is drawn before the engine opens, so the command answers at once

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.set_interval(self.settings.tick_seconds, self._tick)
        self.call_after_refresh(self._open_engine)
        if self.settings.read_only:
            self.notify(
                "You can look at everything; resubmit, cancel, close and push are refused.",
                title="Read-only console",
                timeout=15,
            )

    def _open_engine(self) -> None:
        try:
            self.engine = self._factory()
        except Exception as exc:  # an OsaError names the file and line; the CLI shows it as is
            self.open_error = str(exc)  # printed by the command, unwrapped, after the screen is gone
            self.exit(return_code=getattr(exc, "exit_code", 1))
            return
        self._deliver(self.engine.snapshot, force=True)
        self._start_refresher(self.engine)
        if self._on_start is not None:
            self.run_worker(self._start(self.engine), group="start", exit_on_error=False)

    def _start_refresher(self, engine: EnginePort) -> None:
        self.refresher = Refresher(
            engine,
            self.post_message,
            automatic=self.settings.auto_refresh,
            min_interval=self.settings.min_refresh,
            max_interval=self.settings.max_refresh,
        )
        # exclusive: starting the refresher of another night cancels the one before
        self.run_worker(self.refresher.run(), group="refresh", exclusive=True, exit_on_error=False)

    async def _start(self, engine: EnginePort) -> None:
        assert self._on_start is not None
        result: ActionReport | None
        try:
            outcome = self._on_start(engine)
            result = await outcome if isinstance(outcome, Awaitable) else outcome
        except Exception as exc:
            result = ActionReport("start", False, f"{type(exc).__name__}: {exc}")
        if isinstance(result, ActionReport):
            self.post_message(ActionFinished(result))
        if self.refresher is not None:
            self.refresher.request()

    def on_unmount(self) -> None:
        self.heap.release()
        if self.engine is not None:
            self.engine.shutdown()

    # ------------------------------------------------------------------------------------------
    # engine results

    def on_snapshot_arrived(self, message: SnapshotArrived) -> None:
        if self.engine is None or message.snapshot.date != self.engine.date:
            return  # from the night open before a switch, queued before its refresher stopped
        self._deliver(message.snapshot, message.changed)
        self.heap.started()  # once: the first refresh is shown, the console is up

    def _deliver(
        self, snapshot: NightSnapshot, changed: frozenset[SubrunKey] = frozenset(), force: bool = False
    ) -> None:
        self.snapshot = snapshot
        for screen in self.screen_stack:
            if isinstance(screen, NightScreen):
                screen.show_snapshot(snapshot, changed, force=force)
        # The estimate is minutes-scale and reads every subrun (~20 ms of CPU at 10,000): at most
        # every ETA_EVERY s, and at once when the night is opened or runs out of work (or gets some).
        now = time.monotonic()
        if self.eta is None or snapshot.finished != self._eta_finished or now - self._eta_at >= ETA_EVERY:
            self._eta_at, self._eta_finished = now, snapshot.finished
            self.run_worker(self._estimate(snapshot), group="eta", exclusive=True, exit_on_error=False)

    async def _estimate(self, snapshot: NightSnapshot) -> None:
        """The ETA of a snapshot, in a thread (it reads every subrun), then shown in the header."""
        from osa_core.shift import eta

        estimate = await asyncio.to_thread(eta, snapshot)
        if self.snapshot is None or self.snapshot.date != snapshot.date:
            return  # another night was opened meanwhile
        self.eta = estimate
        if isinstance(self.screen, NightScreen) and self.screen.ready:
            self.screen.show_header()

    def on_refresh_failed(self, message: RefreshFailed) -> None:
        self.notify(f"Refresh failed: {message.error}", severity="error", timeout=10)

    def on_action_finished(self, message: ActionFinished) -> None:
        report = message.report
        self.reports.append(report)
        if report.ok:
            self.notify(f"{report.action}: {report.message}", timeout=8)
        else:
            # A failure stays on the screen until the shifter has read it.
            self.push_screen(ReportDialog(report))
        if self.refresher is not None:
            self.refresher.request()

    def _tick(self) -> None:
        # not `ready` alone: a screen being dismissed has lost its widgets before its unmount
        if isinstance(self.screen, NightScreen) and self.screen.live:
            self.screen.tick()

    def _theme_changed(self, theme: Theme) -> None:
        prefs.save(self.settings.prefs_path, prefs.Prefs(theme=theme.name))
        for screen in self.screen_stack:
            if isinstance(screen, NightScreen):
                screen.show_snapshot(self.snapshot, frozenset(), force=True)

    # ------------------------------------------------------------------------------------------
    # navigation and actions

    def open_night(self, date: dt.date) -> None:
        """Replace the open night by ``date``'s: a new engine, the overview, a new refresh loop."""
        if self._night_opener is None:
            self.notify("This console shows one night only.", severity="warning")
            return
        if self.engine is not None and self.engine.date == date:
            self._back_to_overview()
            return
        if any(w.group == "actions" and w.is_running for w in self.workers):
            night = self.engine.date.isoformat() if self.engine is not None else "this night"
            self.notify(f"An action on {night} is still running: wait for its report.", severity="warning")
            return
        self.notify(f"Opening the night {date.isoformat()}…", timeout=2)
        self.run_worker(self._switch(date), group="switch", exclusive=True, exit_on_error=False)

    async def _switch(self, date: dt.date) -> None:
        assert self._night_opener is not None
        try:
            # Opening a ledger reads (and may upgrade) a file: not on the event loop.
            engine = await asyncio.to_thread(self._open_with_snapshot, self._night_opener, date)
        except Exception as exc:  # an OsaError says which file and what to do
            self.notify(f"Cannot open the night {date.isoformat()}: {exc}", severity="error", timeout=15)
            return
        self.workers.cancel_group(self, "refresh")
        old, self.engine = self.engine, engine
        self.snapshot, self.eta, self.followed_failures = None, None, {}
        self._back_to_overview()
        base = self.screen_stack[0]
        if isinstance(base, OverviewScreen) and base.ready:
            base.forget_night()
        self._deliver(engine.snapshot, force=True)
        self._start_refresher(engine)
        if old is not None:
            await asyncio.to_thread(old.shutdown)

    @staticmethod
    def _open_with_snapshot(opener: NightOpener, date: dt.date) -> EnginePort:
        engine = opener(date)
        engine.snapshot  # noqa: B018 - built here, off the loop (it reads the ledger), and kept
        return engine

    def _back_to_overview(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def open_sequence(self, seq: int) -> None:
        self.push_screen(DetailScreen(seq))

    def open_log(self, key: SubrunKey) -> None:
        if self.engine is None:
            return
        try:
            refs = self.engine.logs(key)
        except Exception as exc:
            self.notify(f"No logs for subrun {key[1]:04d} of seq {key[0]}: {exc}", severity="error")
            return
        if not refs:
            self.notify(
                f"Subrun {key[1]:04d} of seq {key[0]} has not been submitted: no log yet.", severity="warning"
            )
            return
        self.push_screen(LogScreen(key, refs))

    def action_refresh(self) -> None:
        if self.refresher is not None:
            self.refresher.request()

    def action_resubmit_all(self) -> None:
        self.operations.resubmit(Selection(failed_only=True))

    def action_close_night(self) -> None:
        self.operations.close_night()

    def action_push(self) -> None:
        self.operations.push()

    def action_failures(self) -> None:
        if isinstance(self.screen, FailuresScreen):
            return
        if self.snapshot is None:
            self.notify("The night is still being opened.", severity="warning")
            return
        self.push_screen(FailuresScreen(self.followed_failures))

    def action_activity(self) -> None:
        if isinstance(self.screen, ActivityScreen):
            return
        if self.snapshot is None:
            self.notify("The night is still being opened.", severity="warning")
            return
        self.push_screen(ActivityScreen())

    def action_closing_jobs(self) -> None:
        if isinstance(self.screen, ClosingScreen):
            return
        if self.snapshot is None:
            self.notify("The night is still being opened.", severity="warning")
            return
        self.push_screen(ClosingScreen())

    def action_nights(self) -> None:
        if isinstance(self.screen, NightsScreen):
            return
        if self.nights is None:
            self.notify("This console shows one night only: no state directory to list.", severity="warning")
            return
        self.push_screen(NightsScreen(self.nights))

    def action_handover(self) -> None:
        """The shift's handover report, read from the ledger in a worker (it touches the disk)."""
        engine = self.engine
        if engine is None:
            self.notify("The night is not open yet.", severity="warning")
            return

        async def show() -> None:
            try:
                text = await asyncio.to_thread(engine.handover)
            except Exception as exc:  # a ledger that cannot be read: say so, keep the console
                self.notify(f"No handover report: {exc}", severity="error")
                return
            self.push_screen(HandoverScreen(text))

        self.run_worker(show(), group="handover", exclusive=True)

    def action_next_theme(self) -> None:
        order = list(THEME_ORDER)
        index = order.index(self.theme) if self.theme in order else -1
        self.theme = order[(index + 1) % len(order)]
        self.notify(f"Theme: {self.theme}", timeout=2)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(
            HelpScreen(
                [
                    ("Everywhere", self.BINDINGS, self.KEY_HELP),
                    ("Night overview", OverviewScreen.BINDINGS, OverviewScreen.KEY_HELP),
                    ("Sequence detail", DetailScreen.BINDINGS, DetailScreen.KEY_HELP),
                    ("Log view", LogScreen.BINDINGS, LogScreen.KEY_HELP),
                    ("Failures by signature (F)", FailuresScreen.BINDINGS, FailuresScreen.KEY_HELP),
                    ("Nights (D)", NightsScreen.BINDINGS, NightsScreen.KEY_HELP),
                    ("Activity (E)", ActivityScreen.BINDINGS, ActivityScreen.KEY_HELP),
                    ("Closing jobs (J)", ClosingScreen.BINDINGS, ClosingScreen.KEY_HELP),
                    ("Command palette", [Binding("ctrl+p", "command_palette", "every action, by name")], {}),
                ],
                night=self._night_notes(),
            )
        )

    def _night_notes(self) -> list[tuple[str, str]]:
        if self.eta is None:
            return []
        from osa_console.widgets.night_header import eta_text

        return [("end", eta_text(self.eta, self.settings.clock())), ("basis", self.eta.basis)]
