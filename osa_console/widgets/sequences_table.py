"""The night overview's table: one row per sequence, updated by key, cell by cell."""

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
from osa_console.widgets.keyed_table import Cells, KeyedTable
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


def sequence_cells(status: SequenceStatus, now: dt.datetime, palette: Palette, *, marked: bool) -> Cells:
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

    return (
        flag,
        right(status.seq),
        right(status.parent),
        cell("CALIB" if status.type is SequenceType.CALIBRATION else "DATA"),
        cell(f"{status.run:05d}"),
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


class SequencesTable(KeyedTable):
    """Rows keyed by ``str(seq)``; call :meth:`show` with every new snapshot."""

    # The table's own enter binding wins over the screen's: label it here for the footer.
    BINDINGS = [Binding("enter", "select_cursor", "Open")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._last: dict[str, SequenceStatus] = {}

    def on_mount(self) -> None:
        self.set_columns(COLUMNS)

    def show(
        self, snapshot: NightSnapshot, now: dt.datetime, palette: Palette, *, force: bool = False
    ) -> int:
        """Bring the rows up to date; returns how many cells changed.

        Only sequences whose status object changed, or that are still running (their elapsed
        time moves), are rendered again; ``force`` re-renders all (after a theme change).
        """
        if not self.columns:
            self.set_columns(COLUMNS)
        updated = 0
        present = set()
        for status in snapshot.sequences:
            key = str(status.seq)
            present.add(key)
            if not force and self._last.get(key) is status and status.end is not None:
                continue
            self._last[key] = status
            updated += self.put_row(key, sequence_cells(status, now, palette, marked=key in self.marks))
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
            self.put_row(key, sequence_cells(status, now, palette, marked=key in self.marks))

    @property
    def cursor_seq(self) -> int | None:
        key = self.cursor_key
        return None if key is None else int(key)
