"""The processing-timing section of the datacheck: how the night ran, drawn from the snapshot.

Step durations per subrun, the tasks per node over time, states and tries per sequence, the
calibration steps. Nothing here reads a data product: the engine's snapshot is the one source.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from osa_core.model.snapshot import NightSnapshot
from osa_core.model.states import JobState, SequenceType
from osa_core.publish.figures import integers, title
from osa_core.publish.nightpage import Plot, Section

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STATE_COLOURS = {
    JobState.COMPLETED: "#2e7d32",
    JobState.RUNNING: "#1565c0",
    JobState.PENDING: "#9e9e9e",
    JobState.NOT_SUBMITTED: "#e0e0e0",
    JobState.BLOCKED: "#6d4c41",
    JobState.FAILED: "#c62828",
    JobState.CANCELLED: "#f9a825",
    JobState.TIMEOUT: "#ef6c00",
    JobState.OUT_OF_MEMORY: "#ad1457",
    JobState.NODE_FAIL: "#4a148c",
    JobState.UNKNOWN: "#000000",
}


def plot_step_durations(snapshot: NightSnapshot, fig: Figure) -> bool:
    names = snapshot.step_names.get(SequenceType.DATA, ())
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for subruns in snapshot.subruns.values():
        for sub in subruns:
            for step in sub.steps:
                if step.name in seconds and step.exit_code == 0 and not step.skipped and step.seconds:
                    seconds[step.name].append(step.seconds)
    shown = [n for n in names if seconds[n]]
    if not shown:
        return False
    axes = fig.subplots(1, len(shown), squeeze=False)[0]
    for ax, name in zip(axes, shown, strict=True):
        ax.hist(seconds[name], bins=20, color="#1565c0")
        ax.set_title(f"{snapshot.step_labels.get(name, name)} (n={len(seconds[name])})", fontsize=9)
        ax.set_xlabel("seconds")
        ax.yaxis.set_major_locator(integers())
    axes[0].set_ylabel("subruns")
    fig.suptitle(title(snapshot, "step durations per subrun"))
    return True


def plot_timeline(snapshot: NightSnapshot, fig: Figure) -> bool:
    """One lane per task slot a node ran in parallel (lowest free lane first), coloured by run."""
    tasks: dict[str, list[tuple[dt.datetime, dt.datetime, int, bool]]] = {}
    for status in snapshot.sequences:
        for sub in snapshot.subruns.get(status.seq, ()):
            if sub.start and (sub.end or sub.state is JobState.RUNNING):
                end = sub.end or snapshot.taken_at
                tasks.setdefault(sub.node or "?", []).append((sub.start, end, sub.run, sub.state.failed))
    if not tasks:
        return False
    from matplotlib import colormaps
    from matplotlib import dates as mdates

    ax = fig.add_subplot()
    runs = sorted({run for items in tasks.values() for _, _, run, _ in items})
    colours = colormaps["viridis"]
    base = 0
    ticks: list[tuple[float, str]] = []
    for node in sorted(tasks):
        lanes: list[dt.datetime] = []
        for start, end, run, failed in sorted(tasks[node]):
            lane = next((i for i, free in enumerate(lanes) if free <= start), len(lanes))
            if lane == len(lanes):
                lanes.append(end)
            lanes[lane] = end
            left = mdates.date2num(start)
            colour = "#c62828" if failed else colours(runs.index(run) / max(1, len(runs) - 1))
            ax.barh(base + lane, mdates.date2num(end) - left, left=left, height=0.8, color=colour)
        ticks.append((base + (len(lanes) - 1) / 2, f"{node} ({len(lanes)} slots)"))
        base += len(lanes) + 1
    ax.set_yticks([t for t, _ in ticks], [label for _, label in ticks])
    ax.invert_yaxis()
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    ax.set_xlabel(f"UTC; colour: run {runs[0]:05d} (dark) to {runs[-1]:05d} (light); failed tasks red")
    fig.suptitle(title(snapshot, f"tasks per node ({len(runs)} runs)"))
    return True


def plot_states(snapshot: NightSnapshot, fig: Figure) -> bool:
    if not snapshot.sequences:
        return False
    ax = fig.add_subplot()
    labels = [f"{s.seq}: {s.type.value[:4]} {s.run:05d}" for s in snapshot.sequences]
    left = [0] * len(labels)
    for state, colour in STATE_COLOURS.items():
        counts = [s.counts.get(state, 0) for s in snapshot.sequences]
        if any(counts):
            ax.barh(labels, counts, left=left, color=colour, label=state.value)
            left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(integers())
    ax.set_xlabel("subruns")
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title(snapshot, "states per sequence"))
    return True


def plot_tries(snapshot: NightSnapshot, fig: Figure) -> bool:
    per_seq = {
        s.seq: Counter(sub.attempt for sub in snapshot.subruns.get(s.seq, ())) for s in snapshot.sequences
    }
    tries = sorted({a for c in per_seq.values() for a in c if a > 0})
    if not tries:
        return False
    ax = fig.add_subplot()
    labels = [f"{s.seq}: {s.run:05d}" for s in snapshot.sequences]
    bottom = [0] * len(labels)
    for attempt in tries:
        counts = [per_seq[s.seq].get(attempt, 0) for s in snapshot.sequences]
        ax.bar(labels, counts, bottom=bottom, label=f"attempt {attempt}")
        bottom = [a + b for a, b in zip(bottom, counts, strict=True)]
    ax.set_ylabel("subruns")
    ax.yaxis.set_major_locator(integers())
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    ax.legend(fontsize=8)
    fig.suptitle(title(snapshot, "tries per subrun, by sequence"))
    return True


def plot_calibration(snapshot: NightSnapshot, fig: Figure) -> bool:
    cal = [s for s in snapshot.sequences if s.type is SequenceType.CALIBRATION]
    if not cal:
        return False
    names = snapshot.step_names.get(SequenceType.CALIBRATION, ())
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(cal))
    for i, status in enumerate(cal):
        sub = snapshot.subruns.get(status.seq, ())
        steps = sub[0].steps if sub else ()
        values = [next((st.seconds or 0.0 for st in steps if st.name == n), 0.0) for n in names]
        ax.bar(
            [j + i * width for j in range(len(names))],
            values,
            width,
            label=f"run {status.run:05d} ({status.state.value})",
        )
    ax.set_xticks(range(len(names)), [snapshot.step_labels.get(n, n) for n in names])
    ax.set_ylabel("seconds")
    ax.legend(fontsize=8)
    fig.suptitle(title(snapshot, "calibration steps"))
    return True


SNAPSHOT_PLOTS: tuple[tuple[str, str, str, Callable[[NightSnapshot, Figure], bool]], ...] = (
    ("dl1", "step_durations.png", "Step durations", plot_step_durations),
    ("dl1", "timeline.png", "Subruns per node", plot_timeline),
    ("dl1", "states.png", "States per sequence", plot_states),
    ("dl1", "tries.png", "Tries", plot_tries),
    ("enf_calibration", "calibration_steps.png", "Calibration steps", plot_calibration),
)


def timing_section(plots: list[Plot]) -> Section:
    notes = () if plots else ("No timing yet: nothing has run.",)
    return Section("timing", "Processing timing", notes, plots=tuple(plots))
