"""The night overview: progress of the whole night and one row per sequence."""

from __future__ import annotations

import datetime as dt

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding

from osa_console.screens.night_screen import NightScreen
from osa_console.widgets.footer import Footer
from osa_console.widgets.night_progress import NightProgress
from osa_console.widgets.sequences_table import SequencesTable
from osa_core.model.actions import Selection
from osa_core.model.snapshot import NightSnapshot, SubrunKey
from osa_core.model.states import JobState


class OverviewScreen(NightScreen):
    BINDINGS = [
        Binding("enter", "open_sequence", "Open"),
        Binding("space", "mark", "Mark"),
        Binding("R", "resubmit", "Resubmit failed"),
        Binding("c", "cancel", "Cancel"),
        Binding("l", "open_log", "Log"),
        Binding("escape", "clear_marks", "Clear marks", show=False),
    ]
    KEY_HELP = {
        "open_sequence": "open the sequence under the cursor (its subruns, per-step timing)",
        "mark": "mark / unmark the sequence under the cursor (then R or c act on the marked ones)",
        "resubmit": "resubmit the failed subruns of the marked sequences, or of the one under the cursor",
        "cancel": "cancel the marked sequences, or the one under the cursor",
        "open_log": "open the log of the sequence's first failed subrun (else its first subrun)",
        "clear_marks": "unmark every sequence",
    }

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield NightProgress()
        yield SequencesTable(id="sequences")
        yield Footer()

    @property
    def table(self) -> SequencesTable:
        return self.query_one(SequencesTable)

    def setup(self) -> None:
        self.show_snapshot(self.host.snapshot, frozenset(), force=True)
        self.table.focus()

    def apply(
        self, snapshot: NightSnapshot, changed: frozenset[SubrunKey], now: dt.datetime, force: bool
    ) -> None:
        self.query_one(NightProgress).show(snapshot.totals, self.palette, snapshot.problems)
        self.table.show(snapshot, now, self.palette, force=force)

    def forget_night(self) -> None:
        """Another night is opened: its rows, marks and cursor have nothing to do with these."""
        self.table.forget()

    def tick(self) -> None:
        super().tick()
        snapshot = self.host.snapshot
        if snapshot is not None:
            # Running sequences' elapsed time moves; show() redraws only those.
            self.table.show(snapshot, self.now(), self.palette)

    # ------------------------------------------------------------------------------------------

    def _selected_seqs(self) -> frozenset[int]:
        if self.table.marks:
            return frozenset(int(key) for key in self.table.marks)
        seq = self.table.cursor_seq
        return frozenset() if seq is None else frozenset({seq})

    @on(SequencesTable.RowSelected, "#sequences")
    def _row_selected(self, event: SequencesTable.RowSelected) -> None:
        event.stop()
        self.action_open_sequence()

    def action_open_sequence(self) -> None:
        seq = self.table.cursor_seq
        if seq is not None:
            self.host.open_sequence(seq)

    def action_mark(self) -> None:
        key = self.table.cursor_key
        if key is not None:
            self.table.mark(key, self.now(), self.palette)
            self.table.action_cursor_down()

    def action_clear_marks(self) -> None:
        for key in list(self.table.marks):
            self.table.mark(key, self.now(), self.palette)

    def action_resubmit(self) -> None:
        seqs = self._selected_seqs()
        if seqs:
            self.host.operations.resubmit(Selection(seqs=seqs, failed_only=True))

    def action_cancel(self) -> None:
        seqs = self._selected_seqs()
        if seqs:
            self.host.operations.cancel(Selection(seqs=seqs))

    def action_open_log(self) -> None:
        seq = self.table.cursor_seq
        snapshot = self.host.snapshot
        if seq is None or snapshot is None:
            return
        subruns = snapshot.subruns.get(seq, ())
        if not subruns:
            self.notify(f"Sequence {seq} has no subruns yet.", severity="warning")
            return
        # The log a shifter wants from here is the one that explains a failure.
        pick = next((s for s in subruns if s.state.failed), None)
        pick = pick or next((s for s in subruns if s.state is JobState.RUNNING), subruns[0])
        self.host.open_log(pick.key)
