"""One sequence in detail: a row per subrun with per-step durations, and a timing summary."""

from __future__ import annotations

import datetime as dt

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding

from osa_console.render import duration, progress_cell, seconds_between, state_text
from osa_console.screens.night_screen import NightScreen
from osa_console.timing import step_summaries
from osa_console.widgets.footer import Footer
from osa_console.widgets.line import Line
from osa_console.widgets.subruns_table import SubrunsTable
from osa_console.widgets.timing_summary import TimingSummary
from osa_core.model.actions import Selection
from osa_core.model.snapshot import NightSnapshot, SubrunKey, job_label, usage_summary


class DetailScreen(NightScreen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open_log", "Log", show=False),
        Binding("l", "open_log", "Log", show=False),
        Binding("space", "mark", "Mark"),
        Binding("R", "resubmit", "Resubmit failed"),
        Binding("c", "cancel", "Cancel"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse", show=False),
        Binding("f", "cycle_filter", "Filter"),
    ]
    KEY_HELP = {
        "back": "back to the night overview",
        "open_log": "open the log of the subrun under the cursor",
        "mark": "mark / unmark the subrun under the cursor",
        "resubmit": "resubmit the marked failed subruns, or all failed subruns of this sequence",
        "cancel": "cancel the marked subruns, or the one under the cursor",
        "cycle_sort": "sort by the next column (subrun, state, try, each step, node, start, exit)",
        "reverse_sort": "reverse the sort order",
        "cycle_filter": "show all subruns / only failed / only running",
    }

    def __init__(self, seq: int) -> None:
        super().__init__()
        self.seq = seq
        self.where = f"sequence {seq}"
        self._summarised = False

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Line(id="sequence-line")
        yield Line(id="view-line")
        yield SubrunsTable(id="subruns")
        yield TimingSummary()
        yield Footer()

    @property
    def table(self) -> SubrunsTable:
        return self.query_one(SubrunsTable)

    def setup(self) -> None:
        snapshot = self.host.snapshot
        if snapshot is not None:
            status = snapshot.sequence(self.seq)
            self.where = f"sequence {self.seq} · run {status.run:05d}"
            self.table.load(
                snapshot.subruns.get(self.seq, ()),
                snapshot.step_names.get(status.type, ()),
                dict(snapshot.step_labels),
                self.now(),
                self.palette,
            )
        self.show_snapshot(snapshot, frozenset(), force=False)
        self.table.focus()

    def apply(
        self, snapshot: NightSnapshot, changed: frozenset[SubrunKey], now: dt.datetime, force: bool
    ) -> None:
        mine = [key for key in changed if key[0] == self.seq]
        if mine or force:
            by_subrun = {s.subrun: s for s in snapshot.subruns.get(self.seq, ())}
            statuses = (
                list(by_subrun.values()) if force else [by_subrun[k[1]] for k in mine if k[1] in by_subrun]
            )
            self.table.apply(statuses, now, self.palette, force=force)
        self._describe(snapshot, now)
        if mine or force or not self._summarised:
            self._summarised = True
            status = snapshot.sequence(self.seq)
            steps = snapshot.step_names.get(status.type, ())
            summary = self.query_one(TimingSummary)
            used = usage_summary(self.table.statuses)
            usage = (
                ()
                if used is None
                else (used.line(job_label(steps, snapshot.step_labels)), used.advice() or "")
            )
            summary.show(
                step_summaries(self.table.statuses, steps), snapshot.step_labels, self.palette, usage
            )

    def _describe(self, snapshot: NightSnapshot, now: dt.datetime) -> None:
        status = snapshot.sequence(self.seq)
        elapsed = None if status.start is None else seconds_between(status.end or now, status.start)
        line = Text.assemble(
            f" seq {status.seq}  run {status.run:05d}  {status.type.value}  ",
            f"parent {status.parent}  " if status.parent is not None else "",
            progress_cell(status.counts, status.subruns, self.palette, width=20),
            f"  {status.completed}/{status.subruns} done  {status.running} running  ",
            (f"{status.failed} failed", self.palette.failed_badge if status.failed else self.palette.muted),
            f"  tries {status.tries}  job {status.job_id or '-'}  elapsed {duration(elapsed) or '-'}  ",
            state_text(status.state, self.palette),
        )
        if status.reason:
            line.append(f"  {status.reason}", style=self.palette.muted)
        self.query_one("#sequence-line", Line).show_text(line)
        table = self.table
        column = table.sort_column
        label = snapshot.step_labels.get(column[5:], column[5:]) if column.startswith("step:") else column
        marks = f" · {len(table.marks)} marked" if table.marks else ""
        self.query_one("#view-line", Line).show_text(
            Text(
                f" sort: {label} {'▼' if table.reverse else '▲'} · filter: {table.filter.value} "
                f"({table.row_count} of {status.subruns} shown){marks}",
                style=self.palette.muted,
            )
        )

    def tick(self) -> None:
        super().tick()
        snapshot = self.host.snapshot
        if snapshot is not None:
            self.table.tick(self.now(), self.palette)
            self._describe(snapshot, self.now())

    # ------------------------------------------------------------------------------------------

    def _refresh_view(self) -> None:
        self.table.set_view(self.now(), self.palette)
        if self.host.snapshot is not None:
            self._describe(self.host.snapshot, self.now())

    def action_back(self) -> None:
        if self.is_active:  # closed already: a second dismiss would close the screen under it
            self.dismiss()

    @on(SubrunsTable.RowSelected, "#subruns")
    def _row_selected(self, event: SubrunsTable.RowSelected) -> None:
        event.stop()
        self.action_open_log()

    def action_open_log(self) -> None:
        key = self.table.cursor_subrun(self.seq)
        if key is not None:
            self.host.open_log(key)

    def action_mark(self) -> None:
        key = self.table.cursor_key
        if key is not None:
            self.table.mark(key, self.now(), self.palette)
            self.table.action_cursor_down()
            if self.host.snapshot is not None:
                self._describe(self.host.snapshot, self.now())

    def _marked_keys(self) -> frozenset[SubrunKey]:
        return frozenset((self.seq, int(key)) for key in self.table.marks)

    def action_resubmit(self) -> None:
        marked = self._marked_keys()
        if marked:
            selection = Selection(keys=marked, failed_only=True)
        else:
            selection = Selection(seqs=frozenset({self.seq}), failed_only=True)
        self.host.operations.resubmit(selection)

    def action_cancel(self) -> None:
        keys = self._marked_keys()
        if not keys:
            key = self.table.cursor_subrun(self.seq)
            keys = frozenset() if key is None else frozenset({key})
        if keys:
            self.host.operations.cancel(Selection(keys=keys))

    def action_cycle_sort(self) -> None:
        columns = self.table.sort_columns
        index = columns.index(self.table.sort_column) if self.table.sort_column in columns else -1
        self.table.sort_column = columns[(index + 1) % len(columns)]
        self._refresh_view()

    def action_reverse_sort(self) -> None:
        self.table.reverse = not self.table.reverse
        self._refresh_view()

    def action_cycle_filter(self) -> None:
        self.table.filter = self.table.filter.next()
        self._refresh_view()
