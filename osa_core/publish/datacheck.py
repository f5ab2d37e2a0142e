"""The night's datacheck: PNG plots from the snapshot (and DL1 files), lstchain's PDFs, the page.

Everything lands in ``datacheck_web/`` of the night's work area, already in the web server's
layout (``dl1/YYYYMMDD/<prod_id>/``, ``drs4/...``, ``enf_calibration/...``), so publishing is a
plain mapping and the page's relative links work both on disk and on the server. matplotlib is
imported only inside :func:`build_datacheck` (the console and ``status`` never pay for it), and
used without pyplot: figures are objects, safe in a worker thread. Every file is written whole
(temporary name, rename).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osa_core.model.fileio import atomic_write
from osa_core.model.layout import NightLayout
from osa_core.model.placing import copy_into_place
from osa_core.model.snapshot import NightSnapshot
from osa_core.model.states import SequenceType
from osa_core.publish.figures import integers, save_png, title
from osa_core.publish.nightpage import Plot, Section, render_page
from osa_core.publish.timing import SNAPSHOT_PLOTS, timing_section

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CATEGORIES = ("drs4", "enf_calibration", "dl1")
"""The web server's top-level directories."""


@dataclass(frozen=True, slots=True)
class Built:
    root: Path
    plots: tuple[Plot, ...]
    files: tuple[Path, ...]
    """Every file written or collected, the page included."""


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
    ax.xaxis.set_major_locator(integers())
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
    fig.suptitle(title(snapshot, f"DL1 events{images} per subrun"))
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
    fig.suptitle(title(snapshot, "image intensity per run"))
    return True


# --- building --------------------------------------------------------------------------------------------

DL1_PLOTS: tuple[tuple[str, str, str, Callable[[NightSnapshot, Figure, Any], bool]], ...] = (
    ("dl1", "dl1_events.png", "DL1 events per subrun", plot_dl1_events),
    ("dl1", "dl1_intensity.png", "Image intensity per run", plot_intensity),
)


def build_datacheck(snapshot: NightSnapshot, layout: NightLayout) -> Built:
    """Draw every plot there is data for, build the sections, write the page; return what was made."""
    from matplotlib.figure import Figure

    from osa_core.publish import calibcheck, dl1check, dl1stats, drs4check

    timing: list[Plot] = []
    for category, name, caption, draw in SNAPSHOT_PLOTS:
        fig = Figure(figsize=(11, 6), layout="constrained")
        if draw(snapshot, fig):
            path = layout.web_night_dir(category) / name
            save_png(fig, path)
            timing.append(Plot(category, path, caption))
    stats = dl1stats.collect(snapshot, layout)
    dl1_plots: list[Plot] = []
    for category, name, caption, draw_dl1 in DL1_PLOTS:
        fig = Figure(figsize=(11, 6), layout="constrained")
        if draw_dl1(snapshot, fig, stats):
            path = layout.web_night_dir(category) / name
            save_png(fig, path)
            dl1_plots.append(Plot(category, path, caption))
    calibration_pdfs = collect_calibration_pdfs(layout)
    sections = [
        timing_section(timing),
        _with_documents(drs4check.build_section(snapshot, layout), calibration_pdfs, "drs4"),
        _with_documents(calibcheck.build_section(snapshot, layout), calibration_pdfs, "enf_calibration"),
        dl1check.build_section(snapshot, layout, dl1_plots),
        provenance_section(snapshot, layout),
    ]
    save_sections(layout, sections)
    page = _write_page(snapshot, layout, sections)
    plots = tuple(p for s in sections for p in s.plots)
    documents = tuple(d.path for s in sections for d in s.documents)
    return Built(layout.web_root, plots, (*(p.path for p in plots), *documents, page))


def provenance_section(snapshot: NightSnapshot, layout: NightLayout) -> Section:
    """Links to the runs' PROV records, written at closing (``osa_core/close/provenance.py``)."""
    records = []
    notes = []
    for status in snapshot.sequences:
        if status.type is not SequenceType.DATA:
            continue
        path = layout.web_provenance(status.run)
        if path.is_file():
            records.append(Plot("dl1", path, f"run {status.run:05d}: W3C PROV record (PROV-JSON)"))
        else:
            notes.append(
                f"Run {status.run:05d}: no provenance record yet: it is written when the run is closed."
            )
    if records:
        notes.insert(
            0,
            "Inputs with their sha256, outputs, executables with versions, configs, job ids, "
            "hosts and times of every step, per run (W3C PROV, PROV-JSON).",
        )
    return Section("provenance", "Provenance", tuple(notes), documents=tuple(records))


def _with_documents(section: Section, documents: list[Plot], category: str) -> Section:
    mine = tuple(d for d in documents if d.category == category)
    return dataclasses.replace(section, documents=(*section.documents, *mine)) if mine else section


def sections_path(layout: NightLayout) -> Path:
    """The sections of the last build, so the page can be rewritten without drawing again."""
    return layout.state_dir / "datacheck_sections.json"


def save_sections(layout: NightLayout, sections: list[Section]) -> None:
    data = [s.to_json(layout.web_root) for s in sections]
    atomic_write(sections_path(layout), json.dumps(data, indent=1) + "\n")


def write_page(snapshot: NightSnapshot, layout: NightLayout) -> Path:
    """Only the page, over the sections already built (the closer's last word: "closed ...")."""
    try:
        data = json.loads(sections_path(layout).read_text())
        sections = [Section.from_json(item, layout.web_root) for item in data]
    except (OSError, ValueError, KeyError, TypeError, AssertionError):  # never built: what is there
        drawn = [
            Plot(category, layout.web_night_dir(category) / name, caption)
            for category, name, caption, _ in (*SNAPSHOT_PLOTS, *DL1_PLOTS)
            if (layout.web_night_dir(category) / name).is_file()
        ]
        dl1 = {name for _, name, _, _ in DL1_PLOTS}
        timing = [p for p in drawn if p.path.name not in dl1]
        dl1_plots = tuple(p for p in drawn if p.path.name in dl1)
        sections = [timing_section(timing)] + ([Section("dl1", "DL1", plots=dl1_plots)] if dl1_plots else [])
    # only what is still there: a page never links to a file that went away
    sections = [
        dataclasses.replace(
            s,
            plots=tuple(p for p in s.plots if p.path.is_file()),
            documents=tuple(d for d in s.documents if d.path.is_file()),
        )
        for s in sections
    ]
    # provenance is written after the build, at closing: look again
    sections = [provenance_section(snapshot, layout) if s.key == "provenance" else s for s in sections]
    return _write_page(snapshot, layout, sections)


def _write_page(snapshot: NightSnapshot, layout: NightLayout, sections: list[Section]) -> Path:
    page = layout.web_page
    atomic_write(page, render_page(snapshot, layout, sections))
    return page


def collect_calibration_pdfs(layout: NightLayout) -> list[Plot]:
    """lstchain's own calibration PDFs, by kind (DRS4 or charge), copied into the web tree."""
    out: list[Plot] = []
    if layout.calibration_dir.is_dir():
        for pdf in sorted(layout.calibration_dir.glob("*.pdf")):
            category = "drs4" if "drs4" in pdf.name.lower() else "enf_calibration"
            dst = layout.web_night_dir(category) / pdf.name
            if not dst.exists() or dst.stat().st_size != pdf.stat().st_size:
                copy_into_place(pdf, dst)
            out.append(Plot(category, dst, pdf.name))
    return out
