"""Rich rendering of a plan for the CLI: the sequencer table operators know from lstosa.

Only Rich: the console has its own widgets, and ``osa_core`` never imports Textual. The tables
are laid out as one Text each, not as rich Tables: a Table measures and renders every cell as an
object of its own, about half a millisecond a row, and a night file may have tens of thousands
of runs (45,000 sequences: 38 s as a Table, about a second as Text).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table  # the stages: a few rows whose notes need wrapping
from rich.text import Text

from osa_core.model.records import Plan

if TYPE_CHECKING:
    from pathlib import Path

    from osa_core.pipeline.stages import Stage


def plan_table(plan: Plan) -> Group:
    """The sequences, then the skipped runs and the problems ("none" said, not left out)."""
    return Group(heading(plan), sequences_table(plan), skipped_table(plan), problems_list(plan))


def heading(plan: Plan) -> Text:
    text = Text(f"Night {plan.date.isoformat()}", style="bold")
    if plan.source:
        text.append(f"  {plan.source}", style="dim")
    return text


def sequences_table(plan: Plan) -> Text:
    """One row per sequence, calibration rows in bold."""
    rows = [
        (
            str(s.seq),
            "-" if s.parent is None else str(s.parent),
            s.type.value,
            f"{s.run:05d}",
            str(s.subruns),
            f"{s.drs4_run:05d}" if s.drs4_run is not None else "",
        )
        for s in plan.sequences
    ]
    bold = [s.is_calibration for s in plan.sequences]
    header = ("Seq", "Parent", "Type", "Run", "Subruns", "DRS4")
    return columns("Sequences", header, rows, left={2}, bold=bold, empty="no sequences")


def skipped_table(plan: Plan) -> RenderableType:
    if not plan.skipped:
        return Text("Skipped: none", style="bold")
    rows = [(f"{k.run:05d}", k.type, k.reason) for k in plan.skipped]
    return columns("Skipped", ("Run", "Type", "Reason"), rows, left={1, 2})


def problems_list(plan: Plan) -> RenderableType:
    if not plan.problems:
        return Text("Problems: none", style="bold")
    lines: list[RenderableType] = [Text("Problems", style="bold red")]
    lines.extend(Text(f"  - {problem}", style="red") for problem in plan.problems)
    return Group(*lines)


def columns(
    title: str,
    header: tuple[str, ...],
    rows: Sequence[tuple[str, ...]],
    *,
    left: set[int],
    bold: Sequence[bool] = (),
    empty: str = "",
) -> Text:
    """A titled table as one Text: a bold header, a rule, aligned rows (numbers to the right)."""
    widths = [max([len(name), *(len(row[i]) for row in rows)]) for i, name in enumerate(header)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    # No wrapping: rich's wrap costs more than all the rest, and the terminal wraps a long reason.
    text = Text(no_wrap=True, overflow="ignore")
    text.append(f"{title}\n", style="italic")
    text.append(line(header) + "\n", style="bold")
    text.append("  ".join("-" * width for width in widths) + "\n")
    body = [line(row) for row in rows] or [empty]
    start = len(text)
    text.append("\n".join(body))
    for row_text, strong in zip(body, bold, strict=False):
        if strong:
            text.stylize("bold", start, start + len(row_text))
        start += len(row_text) + 1
    return text


def stages_table(profile: str, path: Path, stages: list[Stage]) -> RenderableType:
    """The steps each level of the night runs, from the profile file, and what it leaves out."""
    from osa_core.pipeline.stages import LEVEL_TITLES

    table = Table(title=f"Stages: profile {profile} ({path})", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("Level")
    table.add_column("Steps, in order")
    table.add_column("Notes")
    for stage in stages:
        steps = " → ".join(f"{s.label} [dim]({s.executable.rsplit('/', 1)[-1]})[/dim]" for s in stage.steps)
        notes = [f"left out: {name} ({why})" for name, why in stage.left_out]
        notes += list(stage.resources)
        if stage.problem:
            notes.append(f"[red]PROBLEM: {stage.problem}[/red]")
        table.add_row(LEVEL_TITLES[stage.level], steps or "none", "\n".join(notes))
    return table
