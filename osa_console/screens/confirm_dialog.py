"""Ask before acting, showing exactly what would be submitted or cancelled."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

YES, NO, FORCE = "yes", "no", "force"


class ConfirmDialog(ModalScreen[str]):
    """Dismisses with ``"yes"``, ``"no"`` or ``"force"`` (only offered when something was refused)."""

    BINDINGS = [
        Binding("y", "answer('yes')", "Yes, do it"),
        Binding("n", "answer('no')", "No"),
        Binding("escape", "answer('no')", "No", show=False),
        Binding("F", "answer('force')", "Force", show=False),
    ]
    DEFAULT_CSS = """
    ConfirmDialog { align: center middle; }
    ConfirmDialog > Vertical {
        width: 90%; max-width: 120; height: auto; max-height: 90%;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    ConfirmDialog #title { text-style: bold; }
    ConfirmDialog #lines { height: auto; max-height: 20; margin: 1 0; border: round $panel; }
    ConfirmDialog #buttons { height: auto; align-horizontal: right; }
    ConfirmDialog Button { margin-left: 2; }
    """

    def __init__(
        self,
        title: str,
        subject: str,
        lines: Sequence[str],
        *,
        can_confirm: bool = True,
        can_force: bool = False,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.subject = subject
        self.lines = list(lines)
        self.can_confirm = can_confirm
        self.can_force = can_force

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="title", markup=False)
            yield Static(self.subject, id="subject", markup=False)
            with VerticalScroll(id="lines"):
                yield Static(Text("\n".join(self.lines) or "(nothing)"), id="preview")
            keys = []
            if self.can_confirm:
                keys.append("y: yes, do it")
            if self.can_force:
                keys.append("F: include what was refused (force)")
            keys.append("n / escape: no")
            yield Static("   ".join(keys), id="keys")
            with Horizontal(id="buttons"):
                if self.can_force:
                    yield Button("Force", id="force", variant="warning")
                if self.can_confirm:
                    yield Button("Yes, do it", id="yes", variant="error")
                yield Button("No", id="no", variant="primary")

    def on_mount(self) -> None:
        # The safe answer has the focus: enter on a dialog opened by mistake does nothing.
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id or NO)

    def action_answer(self, answer: str) -> None:
        if not self.is_active:
            # Answered already (a key and a button press queued together): a second dismiss
            # would close the screen under the dialog.
            return
        if answer == YES and not self.can_confirm:
            return
        if answer == FORCE and not self.can_force:
            return
        self.dismiss(answer)
