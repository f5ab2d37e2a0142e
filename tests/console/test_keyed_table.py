"""The keyed table redraws exactly what changed: a changed cell shows its new value at the next
frame, on the cursor row too, and every other row is drawn as before.

The table keeps DataTable's renderings of unchanged cells across updates (DataTable alone would
redraw every visible cell); these tests read what the widget paints, so a stale rendering left
in a cache shows up as the old value on the screen.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region

from osa_console.widgets.keyed_table import KeyedTable

COLUMNS = (("run", "run"), ("state", "state"), ("done", "done"))


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield KeyedTable(id="table")


def painted(table: KeyedTable) -> list[str]:
    """The table's lines as the next frame paints them."""
    width, height = table.size
    return [strip.text.rstrip() for strip in table.render_lines(Region(0, 0, width, height))]


def row(run: int, state: str, done: int) -> tuple[Text, ...]:
    return (Text(f"{run:05d}"), Text(state), Text(str(done), justify="right"))


async def filled(pilot_app: TableApp, rows: int = 6) -> KeyedTable:
    table = pilot_app.query_one(KeyedTable)
    table.set_columns(COLUMNS)
    for n in range(rows):
        table.put_row(str(n), row(1870 + n, "PENDING", 0))
    return table


async def test_a_changed_cell_is_drawn_anew_and_the_rest_as_before() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = await filled(app)
        await pilot.pause()
        before = painted(table)
        assert "PENDING" in before[3]

        assert table.put_row("2", row(1872, "RUNNING", 0)) == 1
        await pilot.pause()
        after = painted(table)

        assert "01872" in after[3] and "RUNNING" in after[3] and "PENDING" not in after[3]
        assert after[:3] == before[:3]
        assert after[4:] == before[4:]


async def test_the_cursor_row_and_later_changes_are_drawn_too() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = await filled(app)
        table.select_key("4")
        await pilot.pause()
        painted(table)
        for done in range(1, 4):  # several frames, each with its own change
            table.put_row("4", row(1874, "RUNNING", done))
            await pilot.pause()
            line = painted(table)[5]
            assert "RUNNING" in line and line.endswith(str(done))
        assert table.cursor_key == "4"


async def test_a_value_wider_than_its_column_widens_it() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = await filled(app)
        await pilot.pause()
        painted(table)
        table.put_row("1", row(1871, "COMPLETED_AFTER_RETRY", 200))
        await pilot.pause()
        lines = painted(table)
        assert "COMPLETED_AFTER_RETRY" in lines[2] and lines[2].endswith("200")
        # Every row moved its last column to the right with the widened state column.
        assert all(line.endswith("0") and len(line) == len(lines[1]) for line in lines[3:7])
