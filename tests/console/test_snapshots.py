"""Screenshots of each screen from fixed data, a fixed clock and a fixed terminal size.

Run ``pytest tests/console --snapshot-update`` after an intended change of the look, and review
the SVGs in ``__snapshots__`` before committing them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import wait_for
from console_fakes import FixedPort, log_refs, synthetic_night
from textual.pilot import Pilot

from osa_console.app import OsaConsole
from osa_console.screens.log_screen import LogScreen
from osa_console.screens.night_screen import NightScreen
from osa_console.settings import ConsoleSettings
from osa_console.widgets.log_view import LogView

SnapCompare = Callable[..., bool]
SIZE = (150, 34)
LOGS = Path(__file__).parent / "data" / "logs"
KEY = (2, 3)


def console(settings: ConsoleSettings, *, healthy: bool = True, theme: str | None = None) -> OsaConsole:
    port = FixedPort(synthetic_night(healthy=healthy), logs={KEY: log_refs(LOGS, KEY, attempts=2)})
    return OsaConsole(lambda: port, dataclasses.replace(settings, theme=theme))


async def opened(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, OsaConsole)
    await wait_for(pilot, lambda: app.snapshot is not None and isinstance(app.screen, NightScreen), 10)
    await wait_for(pilot, lambda: app.eta is not None, 10)  # estimated in a thread; in the header


async def log_opened(pilot: Pilot[None]) -> None:
    await opened(pilot)
    app = pilot.app
    assert isinstance(app, OsaConsole)
    app.open_log(KEY)
    await wait_for(pilot, lambda: isinstance(app.screen, LogScreen), 10)
    view = app.screen.query_one(LogView)
    await wait_for(pilot, lambda: view.last_result is not None and view.last_result.line_count == 10, 10)


def test_overview(snap_compare: SnapCompare, settings: ConsoleSettings) -> None:
    assert snap_compare(console(settings), terminal_size=SIZE, run_before=opened)


def test_detail(snap_compare: SnapCompare, settings: ConsoleSettings) -> None:
    assert snap_compare(
        console(settings), press=["down", "down", "enter"], terminal_size=SIZE, run_before=opened
    )


def test_log_view(
    snap_compare: SnapCompare, settings: ConsoleSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(LOGS)  # the title shows the path relative to where the console started
    assert snap_compare(console(settings), terminal_size=SIZE, run_before=log_opened)


def test_help(snap_compare: SnapCompare, settings: ConsoleSettings) -> None:
    assert snap_compare(
        console(settings), press=["question_mark"], terminal_size=(120, 60), run_before=opened
    )


def test_night_theme_with_unreachable_scheduler(snap_compare: SnapCompare, settings: ConsoleSettings) -> None:
    app = console(settings, healthy=False, theme="osa-night")
    assert snap_compare(app, terminal_size=SIZE, run_before=opened)
