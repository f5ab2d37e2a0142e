"""Rich rendering of a night snapshot for ``osa-core status`` (the console's headless twin)."""

from __future__ import annotations

import datetime as dt
import statistics

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from osa_core.model.snapshot import NightSnapshot
from osa_core.model.states import JobState, SequenceType
from osa_core.track.eta import Eta, estimate
from osa_core.track.signatures import FailureGroup, failure_groups

STATE_STYLE = {
    JobState.COMPLETED: "green",
    JobState.RUNNING: "cyan",
    JobState.PENDING: "yellow",
    JobState.BLOCKED: "bold magenta",
    JobState.NOT_SUBMITTED: "dim",
    JobState.FAILED: "bold white on red",
    JobState.OUT_OF_MEMORY: "bold white on red",
    JobState.TIMEOUT: "bold white on red",
    JobState.NODE_FAIL: "bold white on red",
    JobState.CANCELLED: "red",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def header(snapshot: NightSnapshot) -> Text:
    text = Text()
    text.append(f"Night {snapshot.date.isoformat()}", style="bold")
    text.append(f"  backend {snapshot.backend}  profile {snapshot.profile}")
    if snapshot.simulation:
        text.append("  SIMULATION", style="bold black on yellow")
    if not snapshot.health.ok:
        age = "never"
        if snapshot.health.last_ok is not None:
            age = duration((snapshot.taken_at - snapshot.health.last_ok).total_seconds()) + " ago"
        text.append(
            f"\nSCHEDULER UNREACHABLE (last good answer: {age}): {snapshot.health.error}", style="bold red"
        )
    if snapshot.hold:
        text.append(
            f"\nHOLD: {snapshot.hold} (the autopilot keeps off; `osa-core release` ends it)", style="bold"
        )
    if snapshot.closing:
        text.append(f"\nclosing: {snapshot.closing}")
    for problem in snapshot.problems:
        text.append(f"\nproblem: {problem}", style="bold red")
    return text


def sequences_table(snapshot: NightSnapshot) -> Table:
    table = Table(title="Sequences", title_justify="left")
    # The source column only when the run catalogue names any (a night without one keeps its table).
    with_source = bool(snapshot.sources)
    for column in (
        "Seq",
        "Parent",
        "Type",
        "Run",
        *(("Source",) if with_source else ()),
        "Subruns",
        "Done",
        "Run'g",
        "Pend",
        "Fail",
        "Tries",
        "JobID",
        "Elapsed",
        "State",
    ):
        left = column in ("Type", "State", "JobID", "Source")
        table.add_column(column, justify="left" if left else "right")
    for s in snapshot.sequences:
        style = STATE_STYLE.get(s.state, "")
        table.add_row(
            str(s.seq),
            "-" if s.parent is None else str(s.parent),
            "CALIB" if s.type is SequenceType.CALIBRATION else "DATA",
            f"{s.run:05d}",
            *((snapshot.source(s.run),) if with_source else ()),
            str(s.subruns),
            f"{s.completed} ({s.progress:.0%})",
            str(s.running),
            str(s.pending),
            str(s.failed),
            str(s.tries),
            s.job_id or "-",
            duration(s.elapsed(snapshot.taken_at)),
            Text(s.state.value, style=style),
        )
    return table


def problems_table(snapshot: NightSnapshot, limit: int = 50) -> RenderableType | None:
    """Subruns that need attention: failed or blocked, with the reason."""
    rows = [
        r
        for s in snapshot.sequences
        for r in snapshot.subruns.get(s.seq, ())
        if r.state.failed or r.state is JobState.BLOCKED
    ]
    if not rows:
        return None
    table = Table(title=f"Subruns needing attention ({len(rows)})", title_justify="left")
    for column in ("Run.Sub", "State", "Try", "Exit", "Node", "Reason"):
        table.add_column(column)
    for r in rows[:limit]:
        table.add_row(
            f"{r.run:05d}.{r.subrun:04d}",
            Text(r.state.value, style=STATE_STYLE.get(r.state, "")),
            str(r.attempt),
            "-" if r.exit_code is None else str(r.exit_code),
            r.node or "-",
            r.reason or "",
        )
    if len(rows) > limit:
        table.caption = f"... and {len(rows) - limit} more (status --json lists all)"
    return table


def timing_table(snapshot: NightSnapshot) -> Table | None:
    """Median and slowest duration per step over the night's data subruns."""
    names = snapshot.step_names.get(SequenceType.DATA, ())
    samples: dict[str, list[float]] = {n: [] for n in names}
    for s in snapshot.sequences:
        if s.type is not SequenceType.DATA:
            continue
        for r in snapshot.subruns.get(s.seq, ()):
            for step in r.steps:
                if step.name in samples and step.seconds is not None and not step.skipped:
                    samples[step.name].append(step.seconds)
    if not any(samples.values()):
        return None
    table = Table(title="Step timing (data subruns)", title_justify="left")
    for column in ("Step", "Runs", "Median", "Slowest"):
        table.add_column(column)
    for name, values in samples.items():
        if values:
            table.add_row(
                snapshot.step_labels.get(name, name),
                str(len(values)),
                duration(statistics.median(values)),
                duration(max(values)),
            )
    return table


def eta_line(eta: Eta, now: dt.datetime) -> Text:
    """``ETA 03:40 UTC (in 1:20:00): <basis>``, or why there is none."""
    text = Text()
    if eta.done:
        # "done" would hide failures waiting for a resubmission: say only that nothing runs
        text.append("Nothing left to run", style="bold")
        if eta.at is not None:
            text.append(f" (last subrun ended {eta.at:%H:%M} UTC)")
        if eta.blocked:
            text.append(f"; {eta.blocked} blocked")
    elif eta.at is None:
        text.append("ETA unknown", style="bold")
        text.append(f": {eta.basis}")
    else:
        text.append(f"ETA {eta.at:%H:%M} UTC", style="bold")
        text.append(f" (in {duration(eta.seconds_left(now))}): {eta.basis}")
    return text


def signatures_table(snapshot: NightSnapshot, groups: tuple[FailureGroup, ...]) -> Table | None:
    """Failed subruns by signature: one line per problem, not per subrun."""
    if not groups:
        return None
    table = Table(title=f"Failures by signature ({len(groups)})", title_justify="left")
    for column in ("Count", "Cause", "Step", "Nodes", "Last error line", "First"):
        table.add_column(column, justify="right" if column == "Count" else "left")
    for g in groups:
        first = snapshot.subrun(g.members[0])
        nodes = ", ".join(f"{node} {n}" for node, n in list(g.nodes.items())[:3])
        if len(g.nodes) > 3:
            nodes += ", ..."
        table.add_row(
            str(g.count),
            Text(g.cause, style=STATE_STYLE.get(g.state, "")),
            snapshot.step_labels.get(g.step, g.step) if g.step else "-",
            nodes or "-",
            g.message or "-",
            f"{first.run:05d}.{first.subrun:04d}",
        )
    return table


def status_view(snapshot: NightSnapshot, now: dt.datetime | None = None) -> Group:
    groups = failure_groups(snapshot)
    parts: list[RenderableType] = [
        header(snapshot),
        eta_line(estimate(snapshot), now or snapshot.taken_at),
        sequences_table(snapshot),
    ]
    for extra in (signatures_table(snapshot, groups), problems_table(snapshot), timing_table(snapshot)):
        if extra is not None:
            parts.append(extra)
    return Group(*parts)
