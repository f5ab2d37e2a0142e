"""The night overview's table: one row per sequence, updated by key, cell by cell.

The source each run observed (from the night's run catalogue, carried in the snapshot) gets a
column of its own when the snapshot knows any: a night without a catalogue keeps its table.
"""

from __future__ import annotations

import datetime as dt

from rich.style import Style
from rich.text import Text
from textual.binding import Binding

from osa_console.render import (
    FAILED_GLYPH,
    GLYPHS,
    MARK_GLYPH,
    Palette,
    duration,
    progress_cell,
    seconds_between,
    state_text,
)
from osa_console.widgets.virtual_table import Cells, VirtualTable
from osa_core.model.snapshot import NightSnapshot, SequenceStatus
from osa_core.model.states import SequenceType

COLUMNS: tuple[tuple[str, str], ...] = (
    (" ", "flag"),
    ("seq", "seq"),
    ("parent", "parent"),
    ("type", "type"),
    ("run", "run"),
    ("subruns", "subruns"),
    ("progress", "progress"),
    ("done", "done"),
    ("running", "running"),
    ("pending", "pending"),
    ("failed", "failed"),
    ("tries", "tries"),
    ("job id", "job"),
    ("elapsed", "elapsed"),
    ("state", "state"),
)
SOURCE_COLUMN = ("source", "source")
"""After the run column, when the snapshot names any source."""


def columns(with_source: bool) -> tuple[tuple[str, str], ...]:
    if not with_source:
        return COLUMNS
    at = COLUMNS.index(("run", "run")) + 1
    return (*COLUMNS[:at], SOURCE_COLUMN, *COLUMNS[at:])


def sequence_cells(
    status: SequenceStatus, now: dt.datetime, palette: Palette, *, marked: bool, source: str | None = None
) -> Cells:
    """The row's cells; ``source`` None: the table has no source column."""
    failing = status.failed > 0
    # A sequence with any failed subrun is drawn in the failure colour from end to end, with
    # the failure glyph in the first column: it must be impossible to miss.
    base = palette.failed if failing else Style()
    flag = Text(
        (MARK_GLYPH if marked else " ") + (FAILED_GLYPH if failing else GLYPHS[status.state]),
        style=palette.failed if failing else palette.state(status.state),
    )
    elapsed = None if status.start is None else seconds_between(status.end or now, status.start)

    def cell(value: object, style: Style = base) -> Text:
        return Text("" if value is None else str(value), style=style)

    def right(value: object, style: Style = base) -> Text:
        return Text("" if value is None else str(value), style=style, justify="right")

    named = () if source is None else (cell(source),)
    return (
        flag,
        right(status.seq),
        right(status.parent),
        cell("CALIB" if status.type is SequenceType.CALIBRATION else "DATA"),
        cell(f"{status.run:05d}"),
        *named,
        right(status.subruns),
        progress_cell(status.counts, status.subruns, palette),
        right(status.completed, palette.completed + base if status.completed else base),
        right(status.running, palette.running + base if status.running else base),
        right(status.pending),
        right(status.failed, palette.failed_badge if failing else base),
        right(status.tries or ""),
        cell(status.job_id),
        right(duration(elapsed)),
        state_text(status.state, palette),
    )


class SequencesTable(VirtualTable):
    """Rows keyed by ``str(seq)``; call :meth:`show` with every new snapshot."""

    # The table's own enter binding wins over the screen's: label it here for the footer.
    BINDINGS = [Binding("enter", "select_cursor", "Open")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._last: dict[str, SequenceStatus] = {}
        self._sources: dict[int, str] | None = None
        """The sources shown (None: no source column)."""

    def on_mount(self) -> None:
        self.set_columns(COLUMNS)

    def _source(self, status: SequenceStatus) -> str | None:
        return None if self._sources is None else self._sources.get(status.run, "")

    def show(
        self, snapshot: NightSnapshot, now: dt.datetime, palette: Palette, *, force: bool = False
    ) -> int:
        """Bring the rows up to date; returns how many cells changed.

        Only sequences whose status object changed, or that are still running (their elapsed
        time moves), are rendered again; ``force`` re-renders all (after a theme change).
        """
        sources = dict(snapshot.sources) if snapshot.sources else None
        if not self.columns or (sources is None) != (self._sources is None):
            self.set_columns(columns(sources is not None))
            self._last.clear()
        if sources != self._sources:
            self._sources, force = sources, True
        updated = 0
        present = set()
        for status in snapshot.sequences:
            key = str(status.seq)
            present.add(key)
            if not force and self._last.get(key) is status and status.end is not None:
                continue
            self._last[key] = status
            cells = sequence_cells(
                status, now, palette, marked=key in self.marks, source=self._source(status)
            )
            updated += self.put_row(key, cells)
        for key in set(self.row_keys()) - present:
            self.drop_row(key)
            self._last.pop(key, None)
        return updated

    def forget(self) -> None:
        super().forget()
        self._last.clear()

    def mark(self, key: str, now: dt.datetime, palette: Palette) -> None:
        self.toggle_mark(key)
        status = self._last.get(key)
        if status is not None:
            marked = key in self.marks
            self.put_row(
                key, sequence_cells(status, now, palette, marked=marked, source=self._source(status))
            )

    @property
    def cursor_seq(self) -> int | None:
        key = self.cursor_key
        return None if key is None else int(key)
