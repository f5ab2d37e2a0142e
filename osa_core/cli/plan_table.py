"""Rich rendering of a plan for the CLI: the sequencer table operators know from lstosa.

Only Rich: the console has its own widgets, and ``osa_core`` never imports Textual.
"""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from osa_core.model.records import Plan


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
