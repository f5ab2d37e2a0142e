"""The log view on real files that grow, get truncated and get rotated during the test.

The engine only says *where* a subrun's logs are (``Engine.logs``); what these tests exercise
is the console's own tailing, so the paths come from a fixed port and the files are real files
written by the test while the console runs.
"""

from __future__ import annotations

import os
from pathlib import Path

from conftest import wait_for
from console_fakes import FixedPort, log_refs, synthetic_night

from osa_console.app import OsaConsole
from osa_console.logtail import TailEvent
from osa_console.screens.log_screen import LogScreen
from osa_console.settings import ConsoleSettings
from osa_console.widgets.line import Line
from osa_console.widgets.log_view import LogView

KEY = (2, 3)


def make_app(tmp_path: Path, settings: ConsoleSettings) -> tuple[OsaConsole, list[Path]]:
    refs = log_refs(tmp_path, KEY, attempts=2)
    port = FixedPort(synthetic_night(), logs={KEY: refs})
    return OsaConsole(lambda: port, settings), [
        refs[-1].stdout,
        refs[0].stdout,
        refs[-1].stderr,
        refs[-1].history,
    ]


def append(path: Path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write("".join(f"{line}\n" for line in lines))


def status_text(app: OsaConsole) -> str:
    return app.screen.query_one("#log-status", Line).text.plain


async def test_follows_a_growing_file(tmp_path: Path, settings: ConsoleSettings) -> None:
    app, (stdout, *_) = make_app(tmp_path, settings)
    append(stdout, [f"start {i}" for i in range(5)])
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.engine is not None)
        app.open_log(KEY)
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
        view = app.screen.query_one(LogView)
        await wait_for(pilot, lambda: view.tail.line_count == 5, 10, "5 lines")
        append(stdout, [f"progress {i}" for i in range(200)])
        await wait_for(pilot, lambda: view.virtual_size.height == 205, 10, "205 lines")
        await wait_for(pilot, lambda: view.scroll_offset.y == view.max_scroll_y > 0, 10, "at the end")
        assert "FOLLOWING" in status_text(app)

        await pilot.press("f")  # stop following: new lines arrive, the view stays put
        assert not view.follow
        await pilot.press("home")
        append(stdout, ["late line"])
        await wait_for(pilot, lambda: view.virtual_size.height == 206, 10, "206 lines")
        assert view.scroll_offset.y == 0
        assert "not following" in status_text(app)

        await pilot.press("f")
        await wait_for(pilot, lambda: view.scroll_offset.y == view.max_scroll_y, 10, "back at the end")
        assert view.text_of(205) == "late line"


async def test_survives_truncation_and_says_so(tmp_path: Path, settings: ConsoleSettings) -> None:
    app, (stdout, *_) = make_app(tmp_path, settings)
    append(stdout, [f"first attempt line {i}" for i in range(50)])
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.engine is not None)
        app.open_log(KEY)
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
        view = app.screen.query_one(LogView)
        await wait_for(pilot, lambda: view.tail.line_count == 50, 10)
        with open(stdout, "w", encoding="utf-8") as out:
            out.write("truncated and restarted\n")
        await wait_for(pilot, lambda: view.last_event is TailEvent.TRUNCATED, 10, "truncation noticed")
        await wait_for(pilot, lambda: view.virtual_size.height == 1, 10)
        assert view.text_of(0) == "truncated and restarted"
        assert "truncated" in status_text(app)


async def test_survives_rotation(tmp_path: Path, settings: ConsoleSettings) -> None:
    app, (stdout, *_) = make_app(tmp_path, settings)
    append(stdout, ["before rotation"] * 10)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.engine is not None)
        app.open_log(KEY)
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
        view = app.screen.query_one(LogView)
        await wait_for(pilot, lambda: view.tail.line_count == 10, 10)
        os.rename(stdout, stdout.with_suffix(".out.1"))
        append(stdout, ["after rotation 1", "after rotation 2"])
        await wait_for(pilot, lambda: view.last_event is TailEvent.ROTATED, 10, "rotation noticed")
        await wait_for(pilot, lambda: view.virtual_size.height == 2, 10)
        assert [view.text_of(0), view.text_of(1)] == ["after rotation 1", "after rotation 2"]
        assert "rotated" in status_text(app)
        append(stdout, ["and it goes on"])
        await wait_for(pilot, lambda: view.virtual_size.height == 3, 10, "the new file followed")


async def test_search_attempts_and_files(tmp_path: Path, settings: ConsoleSettings) -> None:
    app, (stdout, first_stdout, stderr, history) = make_app(tmp_path, settings)
    append(stdout, [f"line {i}" for i in range(300)])
    append(stdout, ["ERROR: missing input LST-1.1.Run01875.0003.fits.fz"])
    append(stdout, [f"line {i}" for i in range(300, 400)])
    append(first_stdout, ["the first attempt's output"])
    append(stderr, ["Traceback (most recent call last):"])
    append(
        history,
        [
            '{"event":"end","step":"r0_to_dl1","time":"2020-01-28T08:01:00+00:00","attempt":2,'
            '"host":"node03","job_id":"2002","array_index":3,"exit_code":3,"outputs":[],"detail":"no input"}'
        ],
    )
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.engine is not None)
        app.open_log(KEY)
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
        screen = app.screen
        assert isinstance(screen, LogScreen)
        await wait_for(pilot, lambda: screen.view.tail.line_count == 401, 10)

        await pilot.press("slash", *"missing input", "enter")
        await wait_for(pilot, lambda: screen.view.current_match == 300, 10, "the match")
        assert not screen.view.follow  # a search stops following, or the match would scroll away
        await pilot.press("n")  # no further match: the view stays on it
        await pilot.pause(0.3)
        assert screen.view.current_match == 300

        await pilot.press("e")
        await wait_for(pilot, lambda: screen.view.tail.line_count == 1, 10)
        assert screen.view.text_of(0).startswith("Traceback")
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.view.tail.line_count == 1, 10)
        assert "exit 3" in screen.view.text_of(0) and "node03" in screen.view.text_of(0)

        await pilot.press("o", "left_square_bracket")
        assert screen.attempt_index == 0
        await wait_for(pilot, lambda: screen.view.tail.line_count == 1, 10)
        assert screen.view.text_of(0) == "the first attempt's output"
        await pilot.press("escape")
        assert not isinstance(app.screen, LogScreen)
