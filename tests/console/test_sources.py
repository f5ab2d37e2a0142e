"""The overview's sequences table shows the source each run observed, as the snapshot carries it
(the engine fills it from the run catalogue: tests/core/test_run_sources.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from console_fakes import synthetic_night
from textual.app import App, ComposeResult

from osa_console.render import DEFAULT_PALETTE
from osa_console.widgets.sequences_table import SequencesTable

NOW = dt.datetime(2020, 1, 28, 3, 0, tzinfo=dt.UTC)


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield SequencesTable(id="sequences")


def run_key(table: SequencesTable, run: int) -> str:
    return next(k for k in table.row_keys() if f"{run:05d}" in str(table.get_cell(k, "run")))


async def test_the_source_column_appears_with_the_catalogue_and_keeps_the_cursor() -> None:
    plain = synthetic_night(runs=3, subruns=2)
    named = dataclasses.replace(plain, sources={1874: "Crab", 1876: "Mrk421"})
    app = TableApp()
    async with app.run_test(size=(160, 12)) as pilot:
        table = app.query_one(SequencesTable)
        table.show(plain, NOW, DEFAULT_PALETTE)
        await pilot.pause()
        assert "source" not in [str(c.label) for c in table.columns.values()]

        table.show(named, NOW, DEFAULT_PALETTE)
        table.select_key(run_key(table, 1875))
        await pilot.pause()
        labels = [str(c.label) for c in table.columns.values()]
        assert labels.index("source") == labels.index("run") + 1
        assert str(table.get_cell(run_key(table, 1874), "source")) == "Crab"
        assert str(table.get_cell(run_key(table, 1876), "source")) == "Mrk421"
        assert str(table.get_cell(run_key(table, 1875), "source")) == ""

        renamed = dataclasses.replace(named, sources={1874: "Crab Nebula", 1876: "Mrk421"})
        table.show(renamed, NOW, DEFAULT_PALETTE)
        await pilot.pause()
        assert str(table.get_cell(run_key(table, 1874), "source")) == "Crab Nebula"
        assert table.cursor_key == run_key(table, 1875)
