"""The shift's handover report (``osa-core report``), read in the console until the shifter closes it."""

from __future__ import annotations

from rich.markdown import Markdown
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HandoverScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
        Binding("H", "close", "Close", show=False),
    ]
    DEFAULT_CSS = """
    HandoverScreen { align: center middle; }
    HandoverScreen > VerticalScroll {
        width: 95%; max-width: 140; height: 90%; border: thick $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, markdown: str) -> None:
        super().__init__()
        self.markdown = markdown

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Markdown(self.markdown), id="handover")

    def action_close(self) -> None:
        if self.is_active:
            self.dismiss()
