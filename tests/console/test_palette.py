"""The command palette survives the page keys, whatever was typed and however small the terminal.

Textual 8.2's option list looks up the screen line of the highlighted command on PageDown /
PageUp; before the list has been laid out with some room (a terminal too short to show a
command, results that arrive between two frames) it raises ``KeyError: 0``, and the exception
ended the console. The guard is in ``osa_console/screens/command_palette.py``.
"""

from __future__ import annotations

import pytest
from conftest import wait_for
from console_fakes import FixedPort, synthetic_night
from textual.command import CommandPalette

from osa_console.app import OsaConsole
from osa_console.screens.failures_screen import FailuresScreen
from osa_console.screens.overview_screen import OverviewScreen
from osa_console.settings import ConsoleSettings
from osa_console.widgets.night_header import NightHeader


@pytest.mark.parametrize(
    ("size", "query", "keys"),
    [
        ((40, 4), "", ["pagedown"]),  # no room for one command: this one killed the app
        ((40, 4), "help", ["pageup", "pagedown"]),
        ((120, 30), "zzqx", ["pagedown"]),  # a query that matches nothing
        ((120, 30), "zzqx", ["pageup", "down", "pagedown", "up", "end"]),
    ],
)
async def test_page_keys_in_the_palette_keep_the_console(
    settings: ConsoleSettings, size: tuple[int, int], query: str, keys: list[str]
) -> None:
    port = FixedPort(synthetic_night())
    app = OsaConsole(lambda: port, settings)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, 10, "the night")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), 10, "the palette")
        await pilot.press(*query)
        await pilot.pause(0.7)  # the palette searches in a worker; "no matches" comes after 0.5 s
        await pilot.press(*keys)
        await pilot.pause(0.2)
        assert app.is_running and isinstance(app.screen, CommandPalette)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen), 10, "the palette to close")
    assert app.return_code in (None, 0)


async def test_a_tick_while_a_screen_is_being_closed_keeps_the_console(settings: ConsoleSettings) -> None:
    """A screen being dismissed loses its widgets before its unmount runs; the once-a-second tick
    (or a new ETA) falling in between crashed the console with NoMatches (seen in CI, on the
    failures screen). Here the in-between state is made by removing the header by hand."""
    port = FixedPort(synthetic_night())
    app = OsaConsole(lambda: port, settings)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, 10, "the night")
        await pilot.press("F")
        await wait_for(pilot, lambda: isinstance(app.screen, FailuresScreen), 10, "the failures")
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        await screen.query_one(NightHeader).remove()
        app._tick()
        screen.show_header()
        screen.show_snapshot(app.snapshot, frozenset(), force=True)
        await pilot.pause(0.1)
        assert not screen.live
        assert app.is_running and app.screen is screen
    assert app.return_code in (None, 0)
