"""A night screen that is a line of words over one keyed table: activity, failures, closing jobs."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult

from osa_console.screens.night_screen import NightScreen
from osa_console.widgets.footer import Footer
from osa_console.widgets.keyed_table import KeyedTable
from osa_console.widgets.line import Line


class TableScreen(NightScreen):
    """The header, a line, a table filled from each snapshot (``apply``), the footer; escape goes back."""

    LINE_ID: ClassVar[str]
    TABLE_ID: ClassVar[str]
    COLUMNS: ClassVar[tuple[tuple[str, str], ...]]
    """(heading, key) of each column."""

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Line(id=self.LINE_ID)
        yield KeyedTable(id=self.TABLE_ID)
        yield Footer()

    @property
    def table(self) -> KeyedTable:
        return self.query_one(f"#{self.TABLE_ID}", KeyedTable)

    @property
    def line(self) -> Line:
        return self.query_one(f"#{self.LINE_ID}", Line)

    def setup(self) -> None:
        self.table.set_columns(self.COLUMNS)
        self.show_snapshot(self.host.snapshot, frozenset(), force=True)
        self.table.focus()

    def action_back(self) -> None:
        if self.is_active:
            self.dismiss()
