"""The last nights at a glance, from their ledgers; ``enter`` opens one of them in the console.

The ledgers are read in a worker thread (read-only, a few aggregate queries per night, no
scheduler query), newest first, a batch of rows at a time: the screen is up at once and the
first nights show before the last ones are read. An unfinished night's end needs its ledger read
whole (~100 ms): those are estimated in a second pass, once every row is shown. The worker posts
its rows as messages (never waits for the screen, so a console quitting meanwhile cannot leave it
blocked) and stops at the next night once cancelled. A night whose ledger is missing, damaged or
of another schema is a row that says so.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable
from textual.worker import get_current_worker

from osa_console.app_port import ConsolePort, NightsPort
from osa_console.widgets.footer import Footer
from osa_console.widgets.keyed_table import KeyedTable
from osa_console.widgets.line import Line

if TYPE_CHECKING:
    from osa_core.shift import NightSummary

DEFAULT_LAST = 30
"""Nights shown when the screen opens (``a`` shows them all)."""
BATCH_SECONDS = 0.05
"""Rows go to the table at most this often while the ledgers are read."""

COLUMNS = (
    ("", "open"),
    ("night", "night"),
    ("runs", "runs"),
    ("subruns", "subruns"),
    ("done", "done"),
    ("failed", "failed"),
    ("run'g", "running"),
    ("wait", "waiting"),
    ("alerts", "alerts"),
    ("closed", "closed"),
    ("pushed", "pushed"),
    ("end", "end"),
)


def _when(at: dt.datetime | None) -> str:
    return "-" if at is None else at.strftime("%m-%d %H:%M")


def _problem(summary: NightSummary) -> str:
    """The problem without the ledger's path, which every row would repeat."""
    text = summary.problem or ""
    prefix = f"{summary.ledger}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def night_cells(
    summary: NightSummary, open_date: dt.date | None, now: dt.datetime, estimating: bool = False
) -> tuple[Text, ...]:
    """One night's row: what a shifter checks before taking over."""
    here = Text("▶" if summary.date == open_date else "")
    date = Text(summary.date.isoformat(), style="bold" if summary.date == open_date else "")
    if summary.problem is not None:
        blank = [Text("-")] * 9
        return (here, date, *blank, Text(_problem(summary), style="bold red"))
    eta = summary.eta
    if summary.finished:
        end = Text("finished")
    elif eta is None and estimating:
        end = Text("estimating…", style="dim")
    elif eta is None or eta.at is None:
        end = Text("unknown" + (f": {eta.basis}" if eta is not None else ""))
    else:
        stale = summary.as_of is not None and now - summary.as_of > dt.timedelta(minutes=10)
        end = Text(f"~{_when(eta.at)}" + (f" (as of {_when(summary.as_of)})" if stale else ""))
    if summary.hold:
        end.append("  held", style="bold yellow")
    return (
        here,
        date,
        Text(str(summary.runs), justify="right"),
        Text(str(summary.subruns), justify="right"),
        Text(str(summary.done), justify="right"),
        Text(str(summary.failed), justify="right", style="bold red" if summary.failed else ""),
        Text(str(summary.running), justify="right"),
        Text(str(summary.waiting), justify="right"),
        Text(str(summary.alerts), justify="right", style="bold red" if summary.alerts else ""),
        Text(_when(summary.closed_at) if summary.closed_at else "no"),
        Text(_when(summary.pushed_at) if summary.pushed_at else "no"),
        end,
    )


class NightsRead(Message, bubble=False):
    """A batch of nights read by the worker."""

    def __init__(self, summaries: list[NightSummary], open_date: dt.date | None, estimating: bool) -> None:
        super().__init__()
        self.summaries = summaries
        self.open_date = open_date
        self.estimating = estimating


class NightsListed(Message, bubble=False):
    """Every night asked for has a row (their ETAs may still come); or why there are none."""

    def __init__(self, shown: int, total: int, bad: list[str], error: str | None = None) -> None:
        super().__init__()
        self.shown, self.total, self.bad, self.error = shown, total, bad, error


class NightsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open_night", "Open night"),
        Binding("a", "show_all", "All nights"),
        Binding("r", "reload", "Read again"),
    ]
    KEY_HELP = {
        "back": "back to the night that is open",
        "open_night": "open the night under the cursor in the console (its own live refresh)",
        "show_all": f"show every night of the state directory, not only the last {DEFAULT_LAST}",
        "reload": "read the ledgers again",
    }
    DEFAULT_CSS = """
    NightsScreen #nights-line { dock: top; height: 1; background: $panel; }
    """

    def __init__(self, nights: NightsPort, last: int = DEFAULT_LAST) -> None:
        super().__init__()
        self.nights = nights
        self.last = last
        self.summaries: dict[str, NightSummary] = {}
        self.loaded = False
        """Every night asked for is in the table."""

    @property
    def host(self) -> ConsolePort:
        return cast(ConsolePort, self.app)

    def compose(self) -> ComposeResult:
        yield Line(id="nights-line")
        yield KeyedTable(id="nights")
        yield Footer()

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#nights", KeyedTable)

    def on_mount(self) -> None:
        self.table.set_columns(COLUMNS)
        self.table.focus()
        self._read()

    def _say(self, text: str) -> None:
        self.query_one("#nights-line", Line).show_text(Text(f" Nights  {text}", style="bold"))

    def _read(self) -> None:
        self.loaded = False
        self._say("reading the ledgers…")
        engine = self.host.engine
        self._load(engine.date if engine is not None else None, self.last)

    @work(thread=True, exclusive=True, group="nights", exit_on_error=False)
    def _load(self, open_date: dt.date | None, last: int) -> None:
        try:
            dates, bad = self.nights.dates()
        except Exception as exc:  # the state directory itself unreadable: say so, no traceback
            self.post_message(NightsListed(0, 0, [], error=f"cannot list the nights: {exc}"))
            return
        chosen = dates[:last] if last else dates
        unfinished = self._pass(chosen, open_date, eta=False)
        if get_current_worker().is_cancelled:
            return
        self.post_message(NightsListed(len(chosen), len(dates), bad))
        self._pass(unfinished, open_date, eta=True)

    def _pass(self, dates: list[dt.date], open_date: dt.date | None, eta: bool) -> list[dt.date]:
        """Read ``dates`` and show them in batches; the unfinished ones, for their ETA."""
        batch: list[NightSummary] = []
        unfinished: list[dt.date] = []
        sent = time.monotonic() - BATCH_SECONDS  # the first night goes out at once
        worker = get_current_worker()
        for date in dates:
            if worker.is_cancelled:  # the screen closed, or a new reading started
                return []
            try:
                summary = self.nights.summary(date, eta)
            except Exception as exc:  # summaries carry their own problems; this is the unforeseen
                from osa_core.shift import NightSummary

                summary = NightSummary(date, Path(), problem=f"the ledger cannot be read: {exc}")
            batch.append(summary)
            if summary.problem is None and summary.subruns and not summary.finished:
                unfinished.append(date)
            if time.monotonic() - sent >= BATCH_SECONDS:
                self.post_message(NightsRead(batch, open_date, not eta))
                batch, sent = [], time.monotonic()
        self.post_message(NightsRead(batch, open_date, not eta))
        return unfinished

    def on_nights_read(self, message: NightsRead) -> None:
        now = self.host.settings.clock()
        with self.app.batch_update():
            for summary in message.summaries:
                key = summary.date.isoformat()
                self.summaries[key] = summary
                self.table.put_row(key, night_cells(summary, message.open_date, now, message.estimating))
                if summary.date == message.open_date and message.estimating:
                    self.table.select_key(key)

    def on_nights_listed(self, message: NightsListed) -> None:
        if message.error is not None:
            self._say(message.error)
            return
        self.loaded = True
        shown, total = message.shown, message.total
        text = f"{shown} of {total} nights, newest first" if total else "no nights in the state directory"
        if message.bad:
            text += f"  · not nights: {'; '.join(message.bad)}"
        self._say(text)

    @on(DataTable.RowSelected, "#nights")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_night()

    def action_open_night(self) -> None:
        key = self.table.cursor_key
        summary = self.summaries.get(key) if key is not None else None
        if summary is None:
            return
        if summary.problem is not None:
            self.notify(f"{summary.date.isoformat()}: {summary.problem}", severity="error", timeout=10)
            return
        self.host.open_night(summary.date)

    def action_show_all(self) -> None:
        self.last = 0
        self._read()

    def action_reload(self) -> None:
        self._read()

    def action_back(self) -> None:
        if self.is_active:
            self.dismiss()
