"""The night's datacheck: PNG plots from the snapshot (and DL1 files), lstchain's PDFs, the page.

Everything lands in ``datacheck_web/`` of the night's work area, already in the web server's
layout (``dl1/YYYYMMDD/<prod_id>/``, ``drs4/...``, ``enf_calibration/...``), so publishing is a
plain mapping and the page's relative links work both on disk and on the server. matplotlib is
imported only inside :func:`build_datacheck` (the console and ``status`` never pay for it), and
used without pyplot: figures are objects, safe in a worker thread. Every file is written whole
(temporary name, rename).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osa_core.model.fileio import atomic_write
from osa_core.model.layout import NightLayout
from osa_core.model.placing import copy_into_place
from osa_core.model.snapshot import NightSnapshot
from osa_core.model.states import JobState, SequenceType
from osa_core.publish.nightpage import Plot, render_page

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CATEGORIES = ("drs4", "enf_calibration", "dl1")
"""The web server's top-level directories."""
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
RUN_PDF = re.compile(r"^datacheck_dl1_LST-\d\.Run\d{5}(\.\d{4})?\.pdf$")
"""lstchain's run-wise datacheck PDF (a one-subrun run keeps the subrun's name)."""


@dataclass(frozen=True, slots=True)
class Built:
    root: Path
    plots: tuple[Plot, ...]
    files: tuple[Path, ...]
    """Every file written or collected, the page included."""


def _title(snapshot: NightSnapshot, what: str) -> str:
    label = " (SIMULATION: placeholder data)" if snapshot.simulation else ""
    return f"LST-1 night {snapshot.date.isoformat()}: {what}{label}"


def _integers() -> Any:
    """Tick marks on whole numbers: the axis counts subruns or tries."""
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _save(fig: Figure, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write(path, buf.getvalue())


# --- plots from the snapshot ------------------------------------------------------------------------------


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
        ax.yaxis.set_major_locator(_integers())
    axes[0].set_ylabel("subruns")
    fig.suptitle(_title(snapshot, "step durations per subrun"))
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
    fig.suptitle(_title(snapshot, f"tasks per node ({len(runs)} runs)"))
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
    ax.xaxis.set_major_locator(_integers())
    ax.set_xlabel("subruns")
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(_title(snapshot, "states per sequence"))
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
    ax.yaxis.set_major_locator(_integers())
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    ax.legend(fontsize=8)
    fig.suptitle(_title(snapshot, "tries per subrun, by sequence"))
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
    fig.suptitle(_title(snapshot, "calibration steps"))
    return True


# --- plots from the DL1 files -----------------------------------------------------------------------------


def plot_dl1_events(snapshot: NightSnapshot, fig: Figure, stats: Any) -> bool:
    if not stats.subruns:
        return False
    ax = fig.add_subplot()
    runs = sorted({s.run for s in stats.subruns})
    for run in runs:
        items = [s for s in stats.subruns if s.run == run]
        ax.plot([s.subrun for s in items], [s.events for s in items], "o-", ms=3, label=f"{run:05d} events")
        if any(s.surviving is not None for s in items):
            ax.plot(
                [s.subrun for s in items],
                [s.surviving or 0 for s in items],
                "x--",
                ms=3,
                label=f"{run:05d} images",
            )
    ax.set_xlabel("subrun")
    ax.xaxis.set_major_locator(_integers())
    ax.set_ylabel("events per subrun")
    ax.legend(fontsize=7, ncol=2)
    if stats.merged_only:
        ax.text(
            0.01,
            0.01,
            "merged only: " + ", ".join(f"{r:05d} ({n})" for r, n in sorted(stats.merged_only.items())),
            transform=ax.transAxes,
            fontsize=7,
        )
    images = " and surviving images" if any(s.surviving is not None for s in stats.subruns) else ""
    fig.suptitle(_title(snapshot, f"DL1 events{images} per subrun"))
    return True


def plot_intensity(snapshot: NightSnapshot, fig: Figure, stats: Any) -> bool:
    if not stats.intensity:
        return False
    from osa_core.publish.dl1stats import LOG_INTENSITY_BINS

    ax = fig.add_subplot()
    edges = [10**e for e in LOG_INTENSITY_BINS]
    for run, counts in sorted(stats.intensity.items()):
        ax.stairs(counts, edges, label=f"run {run:05d}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("image intensity (p.e.)")
    ax.set_ylabel("events")
    ax.legend(fontsize=8)
    fig.suptitle(_title(snapshot, "image intensity per run"))
    return True


# --- building --------------------------------------------------------------------------------------------

SNAPSHOT_PLOTS: tuple[tuple[str, str, str, Callable[[NightSnapshot, Figure], bool]], ...] = (
    ("dl1", "step_durations.png", "Step durations", plot_step_durations),
    ("dl1", "timeline.png", "Subruns per node", plot_timeline),
    ("dl1", "states.png", "States per sequence", plot_states),
    ("dl1", "tries.png", "Tries", plot_tries),
    ("enf_calibration", "calibration_steps.png", "Calibration steps", plot_calibration),
)
DL1_PLOTS: tuple[tuple[str, str, str, Callable[[NightSnapshot, Figure, Any], bool]], ...] = (
    ("dl1", "dl1_events.png", "DL1 events per subrun", plot_dl1_events),
    ("dl1", "dl1_intensity.png", "Image intensity per run", plot_intensity),
)


def build_datacheck(snapshot: NightSnapshot, layout: NightLayout) -> Built:
    """Draw every plot there is data for, collect the PDFs, write the page; return what was made."""
    from matplotlib.figure import Figure

    from osa_core.publish import dl1stats

    plots: list[Plot] = []
    for category, name, title, draw in SNAPSHOT_PLOTS:
        fig = Figure(figsize=(11, 6), layout="constrained")
        if draw(snapshot, fig):
            path = layout.web_night_dir(category) / name
            _save(fig, path)
            plots.append(Plot(category, path, title))
    stats = dl1stats.collect(snapshot, layout)
    for category, name, title, draw_dl1 in DL1_PLOTS:
        fig = Figure(figsize=(11, 6), layout="constrained")
        if draw_dl1(snapshot, fig, stats):
            path = layout.web_night_dir(category) / name
            _save(fig, path)
            plots.append(Plot(category, path, title))
    documents = collect_pdfs(layout)
    page = _write_page(snapshot, layout, plots, documents)
    files = (*(p.path for p in plots), *(d.path for d in documents), page)
    return Built(layout.web_root, tuple(plots), files)


def write_page(snapshot: NightSnapshot, layout: NightLayout) -> Path:
    """Only the page, over the plots already built (the closer's last word: "closed ...")."""
    plots = [
        Plot(category, layout.web_night_dir(category) / name, title)
        for category, name, title, _ in (*SNAPSHOT_PLOTS, *DL1_PLOTS)
        if (layout.web_night_dir(category) / name).is_file()
    ]
    return _write_page(snapshot, layout, plots, collect_pdfs(layout))


def _write_page(
    snapshot: NightSnapshot, layout: NightLayout, plots: list[Plot], documents: list[Plot]
) -> Path:
    page = layout.web_page
    atomic_write(page, render_page(snapshot, layout, plots, documents))
    return page


def collect_pdfs(layout: NightLayout) -> list[Plot]:
    """lstchain's own datacheck PDFs: run-wise DL1 ones, and the calibration ones by kind."""
    found: list[tuple[str, Path]] = []
    # only from the final place: a staged PDF is not verified yet
    directory = layout.final_dir("datacheck")
    if directory.is_dir():
        found += [("dl1", p) for p in sorted(directory.glob("*.pdf")) if RUN_PDF.match(p.name)]
    if layout.calibration_dir.is_dir():
        for pdf in sorted(layout.calibration_dir.glob("*.pdf")):
            found.append(("drs4" if "drs4" in pdf.name.lower() else "enf_calibration", pdf))
    out: list[Plot] = []
    seen: set[str] = set()
    for category, src in found:
        if src.name in seen:
            continue
        seen.add(src.name)
        dst = layout.web_night_dir(category) / src.name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            copy_into_place(src, dst)
        out.append(Plot(category, dst, src.name))
    return out
