"""The sequence detail's table: one row per subrun, a column per step, sortable and filterable.

Rows are built only when drawn (:class:`VirtualTable`): opening a 2,000-subrun sequence sorts
and filters 2,000 statuses but styles only the rows on the screen, and a changed subrun off the
screen costs nothing until it is scrolled to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from rich.style import Style
from rich.text import Text
from textual.binding import Binding

from osa_console.render import (
    FAILED_GLYPH,
    GLYPHS,
    MARK_GLYPH,
    Palette,
    clock_time,
    duration,
    seconds_between,
    state_text,
)
from osa_console.timing import SubrunFilter, sort_key
from osa_console.widgets.virtual_table import Cells, VirtualTable
from osa_core.model.snapshot import StepTiming, SubrunKey, SubrunStatus
from osa_core.model.usage import NEAR_LIMIT, cpu_share, memory_share, size_text

FIXED_BEFORE = (("  ", "flag"), ("subrun", "subrun"), ("state", "state"), ("try", "attempt"))
FIXED_AFTER = (("node", "node"), ("start", "start"))
USAGE = (("mem", "mem"), ("cpu", "cpu"))
"""Peak memory (of the request) and CPU share of the latest attempt, once the scheduler said."""


def usage_cells(status: SubrunStatus, palette: Palette, base: Style) -> tuple[Text, Text]:
    usage = status.usage
    if usage is None:
        return Text(""), Text("")
    share = memory_share(usage)
    mem = "" if usage.max_rss is None else size_text(usage.max_rss)
    if share is not None:
        mem += f" {share:.0%}"
    near = share is not None and share > NEAR_LIMIT
    cpu = cpu_share(usage, status.elapsed(status.end) if status.end is not None else None)
    return (
        Text(mem, style=palette.failed if near else base, justify="right"),
        Text("" if cpu is None else f"{cpu:.0%}", style=base, justify="right"),
    )


def step_cell(step: StepTiming | None, now: dt.datetime, palette: Palette, base: Style) -> Text:
    if step is None:
        return Text("")
    if step.skipped:
        return Text("skip", style=palette.muted, justify="right")
    if step.running:
        assert step.start is not None
        return Text("▶ " + duration(seconds_between(now, step.start)), style=palette.running, justify="right")
    seconds = step.seconds
    if step.exit_code not in (None, 0):
        return Text(f"{FAILED_GLYPH} {duration(seconds)}", style=palette.failed_badge, justify="right")
    return Text(duration(seconds), style=base, justify="right")


class SubrunsTable(VirtualTable):
    """Rows keyed by ``str(subrun)`` of one sequence; sort and filter change the rows shown."""

    # The table's own enter binding wins over the screen's: label it here for the footer.
    BINDINGS = [Binding("enter", "select_cursor", "Log")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.steps: tuple[str, ...] = ()
        self.filter = SubrunFilter.ALL
        self.sort_column = "subrun"
        self.reverse = False
        self._statuses: dict[str, SubrunStatus] = {}
        self._now: dt.datetime | None = None
        self._palette: Palette | None = None
        """The clock and colours rows are built with (the latest given)."""

    # ------------------------------------------------------------------------------------------

    @property
    def sort_columns(self) -> list[str]:
        """What ``s`` cycles through, in the order the columns appear."""
        return ["subrun", "state", "attempt", *(f"step:{n}" for n in self.steps), "node", "start", "exit"]

    def load(
        self,
        subruns: Sequence[SubrunStatus],
        steps: Sequence[str],
        labels: dict[str, str],
        now: dt.datetime,
        palette: Palette,
    ) -> None:
        """Build the table for one sequence (opening the screen)."""
        self.steps = tuple(steps)
        columns = [
            *FIXED_BEFORE,
            *((labels.get(name, name), f"step:{name}") for name in self.steps),
            *FIXED_AFTER,
            ("exit", "exit"),
            *USAGE,
        ]
        self.set_columns(columns)
        self._statuses = {str(s.subrun): s for s in subruns}
        self._show(now, palette)

    def cells(self, status: SubrunStatus, now: dt.datetime, palette: Palette) -> Cells:
        key = str(status.subrun)
        failed = status.state.failed
        base = palette.failed if failed else Style()
        flag = Text(
            (MARK_GLYPH if key in self.marks else " ") + (FAILED_GLYPH if failed else GLYPHS[status.state]),
            style=palette.state(status.state),
        )
        return (
            flag,
            Text(f"{status.subrun:04d}", style=base, justify="right"),
            state_text(status.state, palette),
            Text(str(status.attempt or ""), style=base, justify="right"),
            *(step_cell(status.step(name), now, palette, base) for name in self.steps),
            Text(status.node or "", style=base),
            Text(clock_time(status.start), style=base),
            Text("" if status.exit_code is None else str(status.exit_code), style=base, justify="right"),
            *usage_cells(status, palette, base),
        )

    def _visible(self) -> list[SubrunStatus]:
        shown = [s for s in self._statuses.values() if self.filter.keeps(s)]
        shown.sort(key=sort_key(self.sort_column), reverse=self.reverse)
        return shown

    def _show(self, now: dt.datetime, palette: Palette) -> None:
        """Rows in the order and filter chosen, built when drawn; the cursor keeps its subrun."""
        self._now, self._palette = now, palette
        self.set_rows((str(s.subrun) for s in self._visible()), self._build_row)

    def _build_row(self, key: str) -> Cells:
        assert self._now is not None and self._palette is not None  # set before any row shows
        return self.cells(self._statuses[key], self._now, self._palette)

    # ------------------------------------------------------------------------------------------

    def apply(
        self, changed: Iterable[SubrunStatus], now: dt.datetime, palette: Palette, *, force: bool = False
    ) -> int:
        """Take changed subruns; returns the rows redrawn at the next frame (those on the
        screen; the others are built again when scrolled to), or the row count if rebuilt.

        Rows are updated in place unless the set of rows shown or their order must change
        (a subrun entering or leaving the filter, or a changed value in the sorted column).
        """
        changed = list(changed)
        self._now, self._palette = now, palette
        reorder = force
        sort_by = sort_key(self.sort_column)
        for status in changed:
            key = str(status.subrun)
            old = self._statuses.get(key)
            self._statuses[key] = status
            enters_or_leaves = self.filter.keeps(status) != self.has_row(key)
            moves = old is not None and self.sort_column != "subrun" and sort_by(old) != sort_by(status)
            reorder = reorder or enters_or_leaves or moves
        if reorder:
            self._show(now, palette)
            return self.row_count
        return sum(self.invalidate(str(s.subrun)) for s in changed)

    def tick(self, now: dt.datetime, palette: Palette) -> int:
        """Running steps' durations move with the clock: rebuild those rows (when drawn)."""
        self._now, self._palette = now, palette
        running = [s for s in self._statuses.values() if s.state.active and s.start is not None]
        return sum(self.invalidate(str(s.subrun)) for s in running)

    def set_view(self, now: dt.datetime, palette: Palette) -> None:
        """Filter or sort changed: rebuild in the new order, keeping the cursor's subrun."""
        self._show(now, palette)

    def mark(self, key: str, now: dt.datetime, palette: Palette) -> None:
        self.toggle_mark(key)
        self._now, self._palette = now, palette
        self.invalidate(key)

    def status(self, key: str) -> SubrunStatus | None:
        return self._statuses.get(key)

    @property
    def statuses(self) -> list[SubrunStatus]:
        return list(self._statuses.values())

    def cursor_subrun(self, seq: int) -> SubrunKey | None:
        key = self.cursor_key
        return None if key is None else (seq, int(key))
