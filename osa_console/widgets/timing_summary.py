"""Median and slowest duration per step, over a sequence's subruns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from osa_console.render import Palette, duration
from osa_console.timing import StepSummary


def summary_table(summaries: Sequence[StepSummary], labels: Mapping[str, str], palette: Palette) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column("", style="bold")
    for _ in summaries:
        table.add_column("", justify="right")
    table.add_row("step", *(Text(labels.get(s.name, s.name), style="bold") for s in summaries))
    table.add_row("timed", *(str(s.done) for s in summaries))
    table.add_row("median", *(duration(s.median) for s in summaries))
    table.add_row(
        "slowest",
        *(
            Text("") if s.slowest_subrun is None else Text(f"{duration(s.slowest)} ({s.slowest_subrun:04d})")
            for s in summaries
        ),
    )
    return table


class TimingSummary(Widget):
    # A fixed height (4 rows and the rule): new figures repaint it without a layout pass.
    DEFAULT_CSS = """
    TimingSummary { height: 5; padding: 0 1; border-top: hkey $panel; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._table: Table | None = None
        self._key: tuple[object, ...] = ()

    def show(self, summaries: Sequence[StepSummary], labels: Mapping[str, str], palette: Palette) -> None:
        key = (tuple(summaries), palette)
        if key != self._key:
            self._key = key
            self._table = summary_table(summaries, labels, palette)
            self.refresh()

    def render(self) -> Table | str:
        return self._table if self._table is not None else ""
