"""Median and slowest duration per step, over a sequence's subruns, and what their jobs used."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Group
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


def summary(
    summaries: Sequence[StepSummary], labels: Mapping[str, str], palette: Palette, usage: Sequence[str]
) -> Group:
    """The grid, then the usage line and its advice under it: one job runs all of a subrun's steps,
    so its figures belong to no single step column."""
    lines = [Text.assemble(("usage  ", "bold"), usage[0])] if usage else []
    lines += [Text("       " + line, style=palette.failed) for line in usage[1:] if line]
    return Group(summary_table(summaries, labels, palette), *lines)


class TimingSummary(Widget):
    # A fixed height (6 rows and the rule): new figures repaint it without a layout pass.
    DEFAULT_CSS = """
    TimingSummary { height: 7; padding: 0 1; border-top: hkey $panel; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._table: Group | None = None
        self._key: tuple[object, ...] = ()

    def show(
        self,
        summaries: Sequence[StepSummary],
        labels: Mapping[str, str],
        palette: Palette,
        usage: Sequence[str] = (),
    ) -> None:
        """``usage``: the line of what the jobs used and, if any, the advice on their requests."""
        key = (tuple(summaries), palette, tuple(usage))
        if key != self._key:
            self._key = key
            self._table = summary(summaries, labels, palette, usage)
            self.refresh()

    def render(self) -> Group | str:
        return self._table if self._table is not None else ""
