"""Every key, per screen, built from the screens' own bindings so it cannot fall out of date."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from osa_console.render import GLYPHS, SHORT

TABLE_KEYS = (
    ("↑ ↓", "move the cursor"),
    ("PgUp PgDn", "a page up / down"),
    ("Home End", "first / last column; ctrl+Home ctrl+End: first / last row"),
)


def key_label(binding: Binding) -> str:
    if binding.key_display:
        return binding.key_display
    names = {"space": "space", "escape": "escape", "enter": "enter", "question_mark": "?", "slash": "/"}
    return names.get(binding.key, binding.key)


def bindings_table(bindings: Sequence[BindingType], helps: Mapping[str, str]) -> Table:
    table = Table.grid(padding=(0, 3))
    table.add_column(style="bold", min_width=10)
    table.add_column()
    for item in bindings:
        if not isinstance(item, Binding):
            continue
        table.add_row(key_label(item), helps.get(item.action, item.description))
    return table


def legend() -> Text:
    text = Text()
    for state, glyph in GLYPHS.items():
        text.append(f"{glyph} {SHORT[state]} = {state.value.lower().replace('_', ' ')}   ")
    text.append("\n◆ = marked.  A row drawn in the failure colour with ✖ has failed subruns.")
    return text


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False, key_display="?"),
        Binding("q", "close", "Close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 110; height: 90%; border: thick $primary; background: $surface; padding: 0 2;
    }
    HelpScreen .section { margin-top: 1; text-style: bold; color: $accent; }
    """

    def __init__(
        self,
        sections: Sequence[tuple[str, Sequence[BindingType], Mapping[str, str]]],
        night: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__()
        self.sections = sections
        self.night = night
        """What the header abbreviates about the open night, in full (the ETA and its basis)."""

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            if self.night:
                yield Static("The open night", classes="section")
                night = Table.grid(padding=(0, 3))
                night.add_column(style="bold", min_width=10)
                night.add_column()
                for label, text in self.night:
                    night.add_row(label, text)
                yield Static(night)
            yield Static("Keys of the OSA console", classes="section")
            for title, bindings, helps in self.sections:
                yield Static(title, classes="section")
                yield Static(bindings_table(bindings, helps))
            yield Static("In every table", classes="section")
            grid = Table.grid(padding=(0, 3))
            grid.add_column(style="bold", min_width=10)
            grid.add_column()
            for key, what in TABLE_KEYS:
                grid.add_row(key, what)
            yield Static(grid)
            yield Static("States", classes="section")
            yield Static(legend())

    def action_close(self) -> None:
        if self.is_active:  # closed already: a second dismiss would close the screen under it
            self.dismiss()
