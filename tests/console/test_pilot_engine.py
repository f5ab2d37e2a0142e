"""Every key action against the real engine on the real local backend (simulate profile).

Each test runs the seed night (3 subruns a run, 0.05 s steps, failures injected in runs 1875
and 1880) through the real executor daemon, drives the console with keys, and checks both the
screen and the engine's own records.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from closing_check import check_closing_key
from conftest import DemoNight, demo_app, wait_for, wait_night_done
from handover_check import check_handover_key
from rich.text import Text
from textual.command import Command, CommandList, CommandPalette
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Static

from osa_console.app import OsaConsole
from osa_console.messages import ActionFinished, SnapshotArrived
from osa_console.screens.confirm_dialog import ConfirmDialog
from osa_console.screens.detail_screen import DetailScreen
from osa_console.screens.help_screen import HelpScreen
from osa_console.screens.log_screen import LogScreen
from osa_console.screens.overview_screen import OverviewScreen
from osa_console.screens.report_dialog import ReportDialog
from osa_console.settings import ConsoleSettings
from osa_console.widgets.log_view import LogView
from osa_console.widgets.sequences_table import SequencesTable
from osa_core.engine import Engine
from osa_core.model.actions import Selection
from osa_core.model.states import JobState

SIZE = (170, 45)
FAILED_SEQS = {2, 7}  # runs 1875 and 1880
FAILED_SUBRUN = {2: 2, 7: 1}


def overview(app: OsaConsole) -> SequencesTable:
    return app.screen_stack[0].query_one(SequencesTable)


async def select_seq(pilot: Pilot[None], app: OsaConsole, seq: int) -> None:
    overview(app).select_key(str(seq))
    await pilot.pause()
    assert overview(app).cursor_seq == seq


def seq_state(app: OsaConsole, seq: int) -> JobState:
    assert app.snapshot is not None
    return app.snapshot.sequence(seq).state


async def failed_night(pilot: Pilot[None], app: OsaConsole) -> None:
    await wait_night_done(pilot, app)
    assert app.snapshot is not None
    assert {s.seq for s in app.snapshot.sequences if s.failed} == FAILED_SEQS


def refresher_idle(app: OsaConsole, engine: Engine) -> bool:
    """No refresh is running (the engine's guard is free) and none has been asked for."""
    refresher = app.refresher
    return refresher is not None and not refresher._wake.is_set() and not engine._guard.locked()


def palette_highlights(app: OsaConsole, text: str) -> bool:
    """The command palette has finished searching, and its highlighted command is ``text``."""
    palette = app.screen
    if not isinstance(palette, CommandPalette) or not palette.query(CommandList):
        return False
    searching = CommandPalette._GATHER_COMMANDS_GROUP
    if any(w.group == searching and w.is_running for w in app.workers):
        return False
    commands = palette.query_one(CommandList)
    if commands.highlighted is None:
        return False
    option = commands.get_option_at_index(commands.highlighted)
    return isinstance(option, Command) and option.hit.text == text


def preview_text(app: OsaConsole) -> str:
    return str(app.screen.query_one("#preview", Static).render())


async def test_drill_down_and_back_keeps_the_cursor(
    demo_night: DemoNight, live_settings: ConsoleSettings
) -> None:
    app = demo_app(demo_night, live_settings)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and len(app.snapshot.sequences) == 9)
        await pilot.press("down", "down")
        assert overview(app).cursor_seq == 2
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen) and app.screen.seq == 2
        assert app.screen.table.row_count == 3
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)
        assert overview(app).cursor_seq == 2


async def test_live_refresh_updates_rows_in_place(
    demo_night: DemoNight, live_settings: ConsoleSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The night runs while the console watches: rows are updated, never re-added; cursor stays."""
    messages: list[Message] = []
    app = demo_app(demo_night, live_settings)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and len(app.snapshot.sequences) == 9)
        await select_seq(pilot, app, 5)
        table = overview(app)
        added: list[str] = []
        original = table.put_row

        def spy(key: str, cells: tuple[Text, ...]) -> int:
            if not table.has_row(key):
                added.append(key)
            return original(key, cells)

        def rebuilt(*args: object, **kwargs: object) -> None:
            raise AssertionError("a refresh rebuilt the overview's rows")

        monkeypatch.setattr(table, "put_row", spy)
        monkeypatch.setattr(table, "rebuild", rebuilt)
        monkeypatch.setattr(table, "set_rows", rebuilt)
        await pilot.press("space")  # a mark, to see it survive the refreshes
        await select_seq(pilot, app, 5)
        await failed_night(pilot, app)
        assert added == []
        assert table.cursor_seq == 5 and table.marks == {"5"}
        assert "✖" in str(table.get_cell("2", "flag")) and "FAILED" in str(table.get_cell("2", "state"))
        assert sum(isinstance(m, SnapshotArrived) for m in messages) >= 3


async def test_resubmit_selected_sequence_after_confirmation(
    demo_night: DemoNight, live_settings: ConsoleSettings
) -> None:
    app = demo_app(demo_night, live_settings)
    async with app.run_test(size=SIZE) as pilot:
        await failed_night(pilot, app)
        assert app.engine is not None
        await select_seq(pilot, app, 2)
        expected = app.engine.preview_resubmit(Selection(seqs=frozenset({2}), failed_only=True)).lines()
        assert expected == ["run 01875 (seq 2): --array=2 (1 subrun, attempt 2)"]

        await pilot.press("R")
        assert isinstance(app.screen, ConfirmDialog)
        assert app.screen.lines == expected
        assert expected[0] in preview_text(app)
        await pilot.press("n")  # said no: nothing submitted
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("r")
        await pilot.pause(0.5)
        assert app.snapshot is not None and app.snapshot.sequence(2).tries == 1

        await pilot.press("R", "y")
        await wait_for(pilot, lambda: app.reports and app.reports[-1].action == "resubmit", 120)
        assert app.reports[-1].ok, app.reports[-1]
        await wait_for(pilot, lambda: seq_state(app, 2) is JobState.COMPLETED, 180, "seq 2 completed")
        assert app.snapshot is not None
        assert app.snapshot.sequence(2).tries == 2
        assert seq_state(app, 7).failed  # not selected, not touched
        assert "DONE" in str(overview(app).get_cell("2", "state"))


async def test_resubmit_marked_sequences(demo_night: DemoNight, live_settings: ConsoleSettings) -> None:
    messages: list[Message] = []
    app = demo_app(demo_night, live_settings)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await failed_night(pilot, app)
        assert app.engine is not None
        await select_seq(pilot, app, 2)
        await pilot.press("space")
        await select_seq(pilot, app, 7)
        await pilot.press("space")
        assert overview(app).marks == {"2", "7"}
        expected = app.engine.preview_resubmit(Selection(seqs=frozenset({2, 7}), failed_only=True)).lines()
        assert len(expected) == 2
        await select_seq(pilot, app, 4)  # the cursor elsewhere: the marks decide
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmDialog) and app.screen.lines == expected
        await pilot.press("y")
        await wait_for(pilot, lambda: all(seq_state(app, s) is JobState.COMPLETED for s in FAILED_SEQS), 180)
        # The report came back as a message, and the console then asked for a fresh snapshot.
        # The resubmit's report, not the demo's submission (which also comes as ActionFinished);
        # the automatic refresh can show the completed subruns before the report is handled, so
        # the fresh snapshot it asks for may still be on its way.
        done = next(
            i
            for i, m in enumerate(messages)
            if isinstance(m, ActionFinished) and m.report.action == "resubmit"
        )
        await wait_for(
            pilot,
            lambda: any(isinstance(m, SnapshotArrived) for m in messages[done:]),
            30,
            "a snapshot after the resubmit's report",
        )


async def test_resubmit_the_whole_night(demo_night: DemoNight, live_settings: ConsoleSettings) -> None:
    app = demo_app(demo_night, live_settings)
    async with app.run_test(size=SIZE) as pilot:
        await failed_night(pilot, app)
        assert app.engine is not None
        expected = app.engine.preview_resubmit(Selection(failed_only=True)).lines()
        await pilot.press("A")
        assert isinstance(app.screen, ConfirmDialog) and app.screen.lines == expected
        assert "whole night" in app.screen.subject
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: (
                app.snapshot is not None
                and app.snapshot.finished
                and not any(s.failed for s in app.snapshot.sequences)
            ),
            180,
            "every failed subrun resubmitted and completed",
        )


async def test_detail_filter_sort_marked_resubmit_and_log(
    demo_night: DemoNight, live_settings: ConsoleSettings
) -> None:
    app = demo_app(demo_night, live_settings)
    async with app.run_test(size=SIZE) as pilot:
        await failed_night(pilot, app)
        await select_seq(pilot, app, 7)
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        table = screen.table
        assert table.row_count == 3

        await pilot.press("f")  # failed only
        assert table.row_keys() == ["1"]
        await pilot.press("f")  # running only (none any more)
        assert table.row_count == 0
        await pilot.press("f")  # all
        assert table.row_count == 3
        await pilot.press("s")  # by state: failed first
        assert table.sort_column == "state" and table.row_keys()[0] == "1"
        await pilot.press("S")
        assert table.row_keys()[-1] == "1"
        await pilot.press("s", "s")  # by try, then by the first step's duration
        assert table.sort_column == "step:r0_to_dl1"

        table.select_key("1")
        await pilot.press("space")
        assert app.engine is not None
        expected = app.engine.preview_resubmit(Selection(keys=frozenset({(7, 1)}), failed_only=True)).lines()
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmDialog) and app.screen.lines == expected
        await pilot.press("y")
        await wait_for(pilot, lambda: seq_state(app, 7) is JobState.COMPLETED, 180)

        table.select_key("1")
        await pilot.press("l")  # the log: both attempts, the latest shown
        assert isinstance(app.screen, LogScreen)
        log = app.screen
        assert [r.attempt for r in log.refs] == [1, 2] and log.attempt_index == 1
        await pilot.press("s")  # step records
        await wait_for(pilot, lambda: log.query_one(LogView).tail.line_count > 0, 10)
        await pilot.press("left_square_bracket")  # the failed first attempt's records
        view = log.query_one(LogView)
        await wait_for(pilot, lambda: view.tail.line_count > 0, 10)
        text = "\n".join(view.text_of(i) for i in range(view.tail.line_count))
        assert "dl1_to_dl2" in text and "exit 1" in text
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_cancel_asks_and_cancels_what_it_showed(
    slow_night: DemoNight, live_settings: ConsoleSettings
) -> None:
    app = demo_app(slow_night, live_settings)
    async with app.run_test(size=SIZE) as pilot:
        # The first snapshot is the night before its plan is read: no sequences yet.
        await wait_for(
            pilot,
            lambda: (
                app.snapshot is not None
                and any(s.seq == 3 and s.state.active for s in app.snapshot.sequences)
            ),
            120,
            "seq 3 submitted",
        )
        assert app.engine is not None
        await select_seq(pilot, app, 3)
        expected = app.engine.preview_cancel(Selection(seqs=frozenset({3}))).lines()
        assert expected and expected[0].startswith("cancel job")
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmDialog) and app.screen.lines == expected
        await pilot.press("escape")
        assert seq_state(app, 3).active
        await pilot.press("c", "y")
        await wait_for(pilot, lambda: seq_state(app, 3).failed, 120, "seq 3 cancelled")
        assert app.snapshot is not None
        assert app.snapshot.sequence(3).counts.get(JobState.CANCELLED) == 3
        assert seq_state(app, 4).active  # only what was shown was cancelled
        assert "✖" in str(overview(app).get_cell("3", "flag"))


async def test_refresh_key_asks_the_scheduler_once(
    demo_night: DemoNight, live_settings: ConsoleSettings
) -> None:
    app = demo_app(demo_night, dataclasses.replace(live_settings, auto_refresh=False))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.reports, 120, "the submission")
        engine = app.engine
        assert isinstance(engine, Engine)  # the real one: it counts its scheduler calls
        # The submission's report asks for a refresh (once or twice: the start hook and the
        # report's handler both ask): read the count once they have run and none is asked for,
        # not after a pause that only hopes so (a refresh still on its way to the scheduler when
        # the count is read would add its call to the key's).
        await wait_for(pilot, lambda: refresher_idle(app, engine), 30, "the refreshes after the submission")
        before = engine.scheduler_calls
        await pilot.press("r")
        await wait_for(pilot, lambda: engine.scheduler_calls > before, 10)
        await pilot.pause(0.3)
        assert engine.scheduler_calls == before + 1


async def test_close_and_push_show_the_engine_answer(
    demo_night: DemoNight, live_settings: ConsoleSettings
) -> None:
    """Until the closer lands the engine says "not available": the console shows exactly that."""
    app = demo_app(demo_night, live_settings)
    async with app.run_test(size=SIZE) as pilot:
        await failed_night(pilot, app)
        assert app.engine is not None
        for key, action in (("C", app.engine.close_night), ("P", app.engine.push)):
            answer = await action()
            await pilot.press(key)
            assert isinstance(app.screen, ConfirmDialog)
            await pilot.press("y")
            await wait_for(pilot, lambda: isinstance(app.screen, ReportDialog), 10)
            assert isinstance(app.screen, ReportDialog)
            report = app.screen.report
            assert (report.ok, report.message) == (answer.ok, answer.message)
            shown = " ".join(str(w.render()) for w in app.screen.query(Static))
            assert answer.message in shown and ("NOT DONE" in shown) == (not answer.ok)
            await pilot.press("escape")
        await check_handover_key(pilot, app)  # on the same finished night: it takes half a minute
        await check_closing_key(pilot, app)  # the close round above submitted the merge jobs


async def test_theme_switch_is_remembered(demo_night: DemoNight, live_settings: ConsoleSettings) -> None:
    app = demo_app(demo_night, live_settings, submit=False)
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "osa-dark"
        await pilot.press("t")
        assert app.theme == "osa-light"
        await pilot.press("t")
        await pilot.pause()
        assert app.theme == "osa-night"
        assert app.palette.failed.color is not None and app.palette.failed.color.name == "#ff3a3a"
    saved = json.loads(Path(live_settings.prefs_path).read_text())
    assert saved == {"theme": "osa-night"}
    assert demo_app(demo_night, live_settings, submit=False).theme == "osa-night"
    assert (
        demo_app(demo_night, dataclasses.replace(live_settings, theme="osa-light"), submit=False).theme
        == "osa-light"
    )


async def test_help_and_command_palette(demo_night: DemoNight, live_settings: ConsoleSettings) -> None:
    app = demo_app(demo_night, live_settings)
    async with app.run_test(size=SIZE) as pilot:
        await failed_night(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"resubmit all failed")
        # the palette searches in a worker and fills its list in batches: enter picks what is
        # highlighted, so wait until the search has ended on the command (0.5 s was not always)
        await wait_for(pilot, lambda: palette_highlights(app, "Resubmit all failed"), 30, "the command")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), 10, "the confirmation")
        assert app.engine is not None
        assert isinstance(app.screen, ConfirmDialog)
        assert app.screen.lines == app.engine.preview_resubmit(Selection(failed_only=True)).lines()
        await pilot.press("n")
