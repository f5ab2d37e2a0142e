"""Rich rendering of a plan for the CLI: the sequencer table operators know from lstosa.

Only Rich: the console has its own widgets, and ``osa_core`` never imports Textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
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


def sequences_table(plan: Plan) -> Table:
    table = Table(title="Sequences", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("Seq", justify="right")
    table.add_column("Parent", justify="right")
    table.add_column("Type")
    table.add_column("Run", justify="right")
    table.add_column("Subruns", justify="right")
    table.add_column("DRS4", justify="right")
    for s in plan.sequences:
        table.add_row(
            str(s.seq),
            "-" if s.parent is None else str(s.parent),
            s.type.value,
            f"{s.run:05d}",
            str(s.subruns),
            f"{s.drs4_run:05d}" if s.drs4_run is not None else "",
            style="bold" if s.is_calibration else None,
        )
    if not plan.sequences:
        table.caption = "no sequences"
    return table


def skipped_table(plan: Plan) -> RenderableType:
    if not plan.skipped:
        return Text("Skipped: none", style="bold")
    table = Table(title="Skipped", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("Run", justify="right")
    table.add_column("Type")
    table.add_column("Reason")
    for k in plan.skipped:
        table.add_row(f"{k.run:05d}", k.type, k.reason)
    return table


def problems_list(plan: Plan) -> RenderableType:
    if not plan.problems:
        return Text("Problems: none", style="bold")
    lines: list[RenderableType] = [Text("Problems", style="bold red")]
    lines.extend(Text(f"  - {problem}", style="red") for problem in plan.problems)
    return Group(*lines)


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
