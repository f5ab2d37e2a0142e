"""What an action did, as the engine reported it: shown until the shifter has read it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from osa_core.model.actions import ActionReport


class ReportDialog(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]
    DEFAULT_CSS = """
    ReportDialog { align: center middle; }
    ReportDialog > Vertical {
        width: 90%; max-width: 120; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    ReportDialog.-failed > Vertical { border: thick $error; }
    ReportDialog #details { height: auto; max-height: 20; margin-top: 1; }
    """

    def __init__(self, report: ActionReport) -> None:
        super().__init__(classes="" if report.ok else "-failed")
        self.report = report

    def compose(self) -> ComposeResult:
        report = self.report
        verdict = ("✔ done", "bold") if report.ok else ("✖ NOT DONE", "bold reverse")
        with Vertical():
            yield Static(Text.assemble(verdict, (f"  {report.action}", "bold")))
            yield Static(Text(report.message))
            if report.job_ids:
                yield Static(Text("job ids: " + ", ".join(report.job_ids)))
            if report.details:
                with VerticalScroll(id="details"):
                    yield Static(Text("\n".join(report.details)))
            yield Static(Text("escape / enter: close", style="dim"))

    def action_close(self) -> None:
        if self.is_active:  # closed already: a second dismiss would close the screen under it
            self.dismiss()
