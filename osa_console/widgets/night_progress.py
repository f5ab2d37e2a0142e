"""The night's progress: one bar over every subrun of the night, and the counts by state."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.widget import Widget

from osa_console.render import GLYPHS, SHORT, Palette, segmented_bar
from osa_core.model.states import JobState

LEGEND = (
    JobState.COMPLETED,
    JobState.RUNNING,
    JobState.PENDING,
    JobState.NOT_SUBMITTED,
    JobState.BLOCKED,
    JobState.UNKNOWN,
)


def progress_text(
    totals: Mapping[JobState, int], palette: Palette, width: int, problems: tuple[str, ...] = ()
) -> Text:
    total = sum(totals.values())
    if not total:
        # The engine plans the night from its night file; until it can, there is nothing to show.
        why = problems[0] if problems else "is its night file there?"
        return Text(f" no sequences yet: the night is not planned ({why})", style=palette.failed)
    done = totals.get(JobState.COMPLETED, 0)
    failed = sum(n for state, n in totals.items() if state.failed)
    legend = Text()
    legend.append(f" {100.0 * done / total if total else 0:5.1f}%  ")
    for state in LEGEND:
        n = totals.get(state, 0)
        if n or state in (JobState.COMPLETED, JobState.RUNNING):
            legend.append(f"{GLYPHS[state]} {n} {SHORT[state].lower()}  ", style=palette.state(state))
    legend.append(f"✖ {failed} failed", style=palette.failed_badge if failed else palette.muted)
    legend.append(f"  of {total} subruns")
    bar_width = max(10, width - legend.cell_len - 7)
    text = Text(" night ")
    text.append_text(segmented_bar(totals, total, bar_width, palette))
    text.append_text(legend)
    return text


class NightProgress(Widget):
    DEFAULT_CSS = """
    NightProgress { height: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._totals: dict[JobState, int] | None = None
        self._palette: Palette | None = None
        self._problems: tuple[str, ...] = ()

    def show(self, totals: Mapping[JobState, int], palette: Palette, problems: tuple[str, ...] = ()) -> None:
        totals = dict(totals)
        if totals != self._totals or palette != self._palette or problems != self._problems:
            self._totals = totals
            self._palette = palette
            self._problems = problems
            self.refresh()

    def render(self) -> Text:
        # Drawn at render time: the bar's width follows the terminal's.
        if self._totals is None or self._palette is None:
            return Text("")
        return progress_text(self._totals, self._palette, self.size.width or 80, self._problems)
