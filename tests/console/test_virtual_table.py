"""The virtual table draws what DataTable drew, builds only the rows it shows, and keeps the
cursor, the keys and the marks of the table it replaced.

These tests read what the widget paints (``render_lines``), so a row drawn from a stale cache,
or a wrong cell, shows up as the wrong text on the line. The sequence tests use the synthetic
night of the snapshot tests: a 2,000-subrun sequence is what is under test here, and the real
engine's demo night has three subruns a run (its keys are tested in test_pilot_engine.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from console_fakes import FixedPort, change_some, synthetic_night
from rich.console import Console
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot
from textual.renderables.styled import Styled

from osa_console.app import OsaConsole
from osa_console.screens.detail_screen import DetailScreen
from osa_console.screens.overview_screen import OverviewScreen
from osa_console.settings import ConsoleSettings
from osa_console.widgets.table_cells import cell_segments
from osa_console.widgets.virtual_table import Cells, VirtualTable
from osa_core.model.states import JobState

COLUMNS = (("run", "run"), ("state", "state"), ("done", "done"))
BIG = 2000


def painted(table: VirtualTable) -> list[str]:
    """The table's lines as the next frame paints them."""
    width, height = table.size
    return [strip.text.rstrip() for strip in table.render_lines(Region(0, 0, width, height))]


# ----------------------------------------------------------------------------------------------
# cells drawn as DataTable drew them


def rich_cell(cell: Text, width: int, style: Style, console: Console) -> list[Segment]:
    """DataTable's way: the cell padded and styled, rendered by Rich at the column's width."""
    options = console.options.update_dimensions(width + 2, 1).update(no_wrap=True)
    (line,) = console.render_lines(
        Styled(Padding(cell, (0, 1)), pre_style=style, post_style=Style.null()), options
    )
    return list(Segment.simplify(line))


CELLS = [
    Text("01874"),
    Text("42", justify="right"),
    Text("", justify="right"),
    Text("left", justify="left", style="bold"),
    Text("mid", justify="center", style="green"),
    Text("✖ FAILED", style=Style(bold=True, reverse=True, color="red")),
    Text("✖ 53s", style=Style(bold=True, reverse=True), justify="right"),
    Text.assemble(("▶ ", "yellow"), ("3m07s", "bold"), justify="right"),
    Text("trailing  ", justify="right", style="blue"),
]


@pytest.mark.parametrize("cell", CELLS, ids=[repr(c.plain) for c in CELLS])
def test_a_cell_is_drawn_exactly_as_rich_draws_it_for_datatable(cell: Text) -> None:
    console = Console(width=80, color_system="truecolor", force_terminal=True)
    style = Style(color="white", bgcolor="grey11") + Style.from_meta({"row": 3, "column": 1})
    for width in (cell.cell_len, cell.cell_len + 4):
        ours = list(Segment.simplify(cell_segments(cell, width, style, console)))
        assert ours == rich_cell(cell, width, style, console)


# ----------------------------------------------------------------------------------------------
# a table alone: built lazily, cursor keys, repaint of a changed row


class TableApp(App[None]):
    def __init__(self, rows: int) -> None:
        super().__init__()
        self.values = {str(n): "PENDING" for n in range(rows)}
        self.built: list[str] = []
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield VirtualTable(id="table")

    def on_mount(self) -> None:
        table = self.query_one(VirtualTable)
        table.set_columns(COLUMNS)
        table.set_rows(list(self.values), self.build)
        table.focus()

    def build(self, key: str) -> Cells:
        self.built.append(key)
        return (Text(f"{1870 + int(key):05d}"), Text(self.values[key]), Text(key, justify="right"))

    def on_virtual_table_row_selected(self, message: VirtualTable.RowSelected) -> None:
        self.selected.append(message.row_key)


async def test_only_the_rows_on_the_screen_are_built() -> None:
    app = TableApp(BIG)
    async with app.run_test(size=(60, 12)) as pilot:
        await pilot.pause()
        table = app.query_one(VirtualTable)
        lines = painted(table)
        assert "run" in lines[0] and "state" in lines[0]
        assert "01870" in lines[1] and "01880" in lines[11]
        assert table.row_count == BIG and table.built_rows() <= 12
        assert len(set(app.built)) == table.built_rows()


async def test_cursor_keys_move_and_scroll_to_the_end() -> None:
    app = TableApp(BIG)
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(VirtualTable)
        await pilot.press("down", "down", "down")
        assert table.cursor_key == "3"
        await pilot.press("up")
        assert table.cursor_key == "2"
        await pilot.press("pagedown")
        assert table.cursor_key == "13"  # one page: the 11 rows under the header, as DataTable
        assert "01883" in painted(table)[1 + 13 - round(table.scroll_y)]

        await pilot.press("ctrl+end")
        assert table.cursor_key == str(BIG - 1)
        lines = painted(table)
        assert f"0{1870 + BIG - 1}" in lines[-1] and lines[-1].endswith(str(BIG - 1))
        assert "run" in lines[0]  # the header stays
        assert table.built_rows() <= 40  # the screens shown, not the 2,000 rows between

        await pilot.press("ctrl+home")
        assert table.cursor_key == "0" and "01870" in painted(table)[1]
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected == ["0"]


async def test_a_click_moves_the_cursor_and_a_second_click_selects() -> None:
    app = TableApp(50)
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(VirtualTable)
        await pilot.click(VirtualTable, offset=(3, 4))  # the fourth row under the header
        assert table.cursor_key == "3" and app.selected == []
        await pilot.click(VirtualTable, offset=(3, 4))
        await pilot.pause()
        assert app.selected == ["3"]


async def test_a_changed_row_is_drawn_anew_and_the_rest_as_before() -> None:
    app = TableApp(BIG)
    async with app.run_test(size=(60, 12)) as pilot:
        await pilot.pause()
        table = app.query_one(VirtualTable)
        before = painted(table)
        app.values["2"] = "RUNNING"
        app.values["1500"] = "RUNNING"  # off the screen: nothing to draw, nothing built
        assert table.invalidate("2") is True
        assert table.invalidate("1500") is False
        await pilot.pause()
        after = painted(table)
        assert "RUNNING" in after[3] and "PENDING" not in after[3]
        assert after[:3] == before[:3] and after[4:] == before[4:]
        assert "1500" not in app.built

        table.select_key("1500")
        await pilot.pause()
        assert any("RUNNING" in line and line.endswith("1500") for line in painted(table))


async def test_a_wider_value_widens_its_column_on_every_line() -> None:
    app = TableApp(20)
    async with app.run_test(size=(60, 12)) as pilot:
        await pilot.pause()
        table = app.query_one(VirtualTable)
        app.values["1"] = "COMPLETED_AFTER_RETRY"
        table.invalidate("1")
        await pilot.pause()
        lines = painted(table)
        assert "COMPLETED_AFTER_RETRY" in lines[2]
        # Every row moved its last column to the right with the widened state column.
        assert all(len(line) == len(lines[2]) for line in lines[1:10] if line[-1] != "1")
        assert lines[5].endswith("4") and len(lines[5]) == len(lines[2])


# ----------------------------------------------------------------------------------------------
# the detail screen on a 2,000-subrun sequence


def big_console(settings: ConsoleSettings) -> tuple[OsaConsole, FixedPort]:
    port = FixedPort(synthetic_night(runs=3, subruns=20, first_run_subruns=BIG))
    return OsaConsole(lambda: port, settings), port


async def opened_detail(pilot: Pilot[None], app: OsaConsole) -> DetailScreen:
    while app.snapshot is None or not isinstance(app.screen, OverviewScreen):
        await pilot.pause(0.01)
    app.open_sequence(1)
    while not (isinstance(app.screen, DetailScreen) and app.screen.ready):
        await pilot.pause(0.01)
    await pilot.pause()
    return app.screen


async def test_the_end_of_a_2000_subrun_sequence(settings: ConsoleSettings) -> None:
    app, _ = big_console(settings)
    async with app.run_test(size=(150, 34)) as pilot:
        screen = await opened_detail(pilot, app)
        table = screen.table
        assert table.row_count == BIG
        assert table.built_rows() < 40  # the screen's rows, not the sequence's
        await pilot.press("ctrl+end")
        assert table.cursor_key == str(BIG - 1)
        lines = painted(table)
        # The last line is the last subrun (the run is among the night's first: all done).
        assert lines[-1].split()[:4] == ["✔", f"{BIG - 1:04d}", "✔", "DONE"]
        assert lines[-2].split()[:2] == ["✔", f"{BIG - 2:04d}"]
        await pilot.press("space")  # a mark on the last subrun; the cursor cannot go further
        assert table.marks == {str(BIG - 1)} and table.cursor_key == str(BIG - 1)
        assert painted(table)[-1].split()[:2] == ["◆✔", f"{BIG - 1:04d}"]

        await pilot.press("S")  # reversed: the last subrun comes first, the cursor stays on it
        assert table.row_keys()[0] == str(BIG - 1) and table.cursor_key == str(BIG - 1)
        lines = painted(table)
        assert lines[1].split()[:2] == ["◆✔", f"{BIG - 1:04d}"]
        assert lines[2].split()[:2] == ["✔", f"{BIG - 2:04d}"]


async def test_a_changed_subrun_is_repainted(settings: ConsoleSettings) -> None:
    app, _ = big_console(settings)
    async with app.run_test(size=(150, 34)) as pilot:
        screen = await opened_detail(pilot, app)
        table = screen.table
        await pilot.press("ctrl+end")
        before = painted(table)
        assert app.snapshot is not None
        last = app.snapshot.subruns[1][-1]
        assert last.state is JobState.COMPLETED
        # The last subrun is found to have failed (a late accounting correction): only it
        # changes in the next snapshot.
        moved = change_some(app.snapshot, 1.0)
        rows = list(app.snapshot.subruns[1])
        rows[-1] = next(s for s in moved.subruns[1] if s.subrun == last.subrun)
        snapshot = dataclasses.replace(
            app.snapshot,
            subruns={**app.snapshot.subruns, 1: tuple(rows)},
            changed=frozenset({last.key}),
            taken_at=app.snapshot.taken_at + dt.timedelta(seconds=5),
        )
        app._deliver(snapshot, snapshot.changed)
        await pilot.pause()
        after = painted(table)
        assert after[-1].split()[:4] == ["✖", f"{BIG - 1:04d}", "✖", "FAILED"]
        # The other rows show what they showed (spaced out: the state column widened for FAILED).
        assert [line.split() for line in after[1:-1]] == [line.split() for line in before[1:-1]]
        assert len(after[1]) > len(before[1])


async def test_a_theme_change_recolours_the_rows_drawn(settings: ConsoleSettings) -> None:
    """Rows are kept drawn between frames: a new theme must not show the old colours."""
    app, _ = big_console(settings)
    async with app.run_test(size=(150, 34)) as pilot:
        table = (await opened_detail(pilot, app)).table

        def colours() -> list[tuple[object, object]]:
            width, height = table.size
            strips = table.render_lines(Region(0, 0, width, height))
            return [(s.style.color, s.style.bgcolor) for strip in strips for s in strip if s.style]

        dark = colours()
        assert app.theme == "osa-dark"
        app.theme = "osa-night"
        await pilot.pause()
        night = colours()
        assert len(night) > 0 and not set(night) & set(dark)
        app.theme = "osa-dark"
        await pilot.pause()
        assert colours() == dark
