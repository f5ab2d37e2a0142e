"""The log of one subrun: stdout, stderr or step records of any attempt, followed live."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input

from osa_console.render import FAILED_GLYPH, GLYPHS, duration, seconds_between
from osa_console.screens.night_screen import NightScreen
from osa_console.step_records import format_record
from osa_console.widgets.footer import Footer
from osa_console.widgets.line import Line
from osa_console.widgets.log_view import LogView
from osa_core.model.actions import LogRef
from osa_core.model.snapshot import NightSnapshot, SubrunKey, SubrunStatus
from osa_core.model.states import JobState

KINDS = ("stdout", "stderr", "history")
KIND_LABELS = {"stdout": "stdout", "stderr": "stderr", "history": "step records"}


def steps_line(status: SubrunStatus, labels: dict[str, str], now: dt.datetime) -> Text:
    text = Text(" ")
    for step in status.steps:
        label = labels.get(step.name, step.name)
        if step.skipped:
            text.append(f"{label} skip", style="dim")
        elif step.running and step.start is not None:
            text.append(f"{label} ▶ {duration(seconds_between(now, step.start))}", style="bold")
        elif step.exit_code not in (None, 0):
            text.append(
                f"{label} {FAILED_GLYPH} exit {step.exit_code} {duration(step.seconds)}", style="bold reverse"
            )
            if step.detail:
                text.append(f" ({step.detail})")
        else:
            text.append(f"{label} {GLYPHS[JobState.COMPLETED]} {duration(step.seconds)}")
        text.append("  ")
    return text


def shown_path(path: Path) -> str:
    """Relative to where the console was started when under it (shorter to read and to copy)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class LogScreen(NightScreen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f", "toggle_follow", "Follow"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("n", "find(False)", "Next", show=False),
        Binding("N", "find(True)", "Previous", show=False),
        Binding("o", "show_kind('stdout')", "stdout"),
        Binding("e", "show_kind('stderr')", "stderr"),
        Binding("s", "show_kind('history')", "Steps"),
        Binding("left_square_bracket", "attempt(-1)", "Earlier try", key_display="["),
        Binding("right_square_bracket", "attempt(1)", "Later try", key_display="]"),
        Binding("G", "follow_end", "End", show=False),
    ]
    KEY_HELP = {
        "back": "back (closes the search box first)",
        "toggle_follow": "follow the file as it grows, or stop following",
        "search": "search (case-insensitive); enter jumps to the first match",
        "find(False)": "next match",
        "find(True)": "previous match",
        "show_kind('stdout')": "show the job's standard output",
        "show_kind('stderr')": "show the job's standard error",
        "show_kind('history')": "show the step records (start, end, exit code, host, outputs)",
        "attempt(-1)": "the previous attempt's files",
        "attempt(1)": "the next attempt's files",
        "follow_end": "jump to the end and follow",
    }
    DEFAULT_CSS = """
    LogScreen #search { dock: bottom; display: none; }
    LogScreen #search.-shown { display: block; }
    """

    def __init__(self, key: SubrunKey, refs: list[LogRef], kind: str = "stdout") -> None:
        super().__init__()
        self.key = key
        self.refs = refs
        self.attempt_index = len(refs) - 1
        self.kind = kind
        self.where = f"log of seq {key[0]} subrun {key[1]:04d}"

    @property
    def ref(self) -> LogRef:
        return self.refs[self.attempt_index]

    @property
    def path(self) -> Path:
        return Path(getattr(self.ref, self.kind))

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Line(id="log-title")
        yield Line(id="log-steps")
        yield self._new_view()
        yield Line(id="log-status")
        yield Input(placeholder="search… (enter: find, escape: close)", id="search")
        yield Footer()

    def _new_view(self) -> LogView:
        return LogView(
            self.path,
            formatter=format_record if self.kind == "history" else None,
            poll_seconds=self.host.settings.log_poll_seconds,
        )

    def setup(self) -> None:
        self.query_one("#search", Input).cursor_blink = self.host.settings.cursor_blink
        self._title()
        self.show_snapshot(self.host.snapshot, frozenset(), force=True)
        self.view.focus()

    def apply(
        self, snapshot: NightSnapshot, changed: frozenset[SubrunKey], now: dt.datetime, force: bool
    ) -> None:
        if force or self.key in changed:
            self._steps(snapshot, now)

    def _steps(self, snapshot: NightSnapshot, now: dt.datetime) -> None:
        try:
            status = snapshot.subrun(self.key)
        except KeyError:
            return
        self.query_one("#log-steps", Line).show_text(steps_line(status, dict(snapshot.step_labels), now))

    def tick(self) -> None:
        super().tick()
        if self.host.snapshot is not None:
            self._steps(self.host.snapshot, self.now())

    def _title(self) -> None:
        attempts = " ".join(
            f"[{ref.attempt}]" if i == self.attempt_index else str(ref.attempt)
            for i, ref in enumerate(self.refs)
        )
        self.query_one("#log-title", Line).show_text(
            Text.assemble(
                (f" {KIND_LABELS[self.kind]}", "bold"),
                f" of seq {self.key[0]} subrun {self.key[1]:04d}",
                f" · attempt {attempts} · job {self.ref.job_id}",
                (f"  {shown_path(self.path)}", "dim"),
            )
        )

    @on(LogView.Updated)
    def _status(self, event: LogView.Updated | None = None) -> None:
        view = self.view
        result = view.last_result
        parts = ["FOLLOWING" if view.follow else "not following (f: follow)"]
        if view.error:
            parts.append(f"cannot read: {view.error}")
        elif result is None or result.event.value == "missing":
            parts.append("the file does not exist yet: waiting for it")
        else:
            parts.append(f"{result.line_count} lines, {result.size:,} bytes")
        if view.last_event.describe():
            parts.append(view.last_event.describe())
        if view.search:
            parts.append(f"search: {view.search!r}")
        self.query_one("#log-status", Line).show_text(Text(" " + " · ".join(parts), style="bold"))

    # ------------------------------------------------------------------------------------------

    async def _switch(self) -> None:
        search = self.view.search
        await self.view.remove()
        view = self._new_view()
        view.search = search
        await self.mount(view, after="#log-steps")
        view.focus()
        self._title()
        self._status()

    async def action_show_kind(self, kind: str) -> None:
        if kind != self.kind:
            self.kind = kind
            await self._switch()

    async def action_attempt(self, step: int) -> None:
        index = self.attempt_index + step
        if not 0 <= index < len(self.refs):
            self.notify("No earlier attempt." if step < 0 else "This is the latest attempt.", timeout=2)
            return
        self.attempt_index = index
        await self._switch()

    def action_toggle_follow(self) -> None:
        self.view.follow = not self.view.follow

    def action_follow_end(self) -> None:
        self.view.follow = True

    def action_back(self) -> None:
        search = self.query_one("#search", Input)
        if search.has_class("-shown"):
            search.remove_class("-shown")
            self.view.focus()
            return
        if self.is_active:  # closed already: a second dismiss would close the screen under it
            self.dismiss()

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.add_class("-shown")
        search.focus()

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self.view.search = event.value
        search = self.query_one("#search", Input)
        search.remove_class("-shown")
        self.view.focus()
        self._status()
        if event.value:
            start = self.view.current_match + 1 if self.view.current_match is not None else 0
            self._find(event.value, start, backwards=False)

    def action_find(self, backwards: bool) -> None:
        if not self.view.search:
            self.action_search()
            return
        current = self.view.current_match
        if current is None:
            current = int(self.view.scroll_offset.y) - (0 if backwards else 1)
        self._find(self.view.search, current if backwards else current + 1, backwards=backwards)

    @work(thread=True, exclusive=True, group="log-search")
    def _find(self, term: str, start: int, backwards: bool) -> None:
        # A search may read a big file: a thread, whose answer comes back to the UI thread.
        found = self.view.tail.find(term, start, backwards=backwards)
        self.app.call_from_thread(self._found, term, found, backwards)

    def _found(self, term: str, line: int | None, backwards: bool) -> None:
        if line is None:
            self.notify(f"{term!r} not found {'above' if backwards else 'further on'}.", timeout=3)
            return
        self.view.show_line(line)
