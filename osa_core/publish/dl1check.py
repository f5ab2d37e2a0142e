"""The DL1 section of the datacheck: lstchain's run-wise check PDFs and the night's long-term
check (``lstchain_longterm_dl1_check``), linked and summed up, beside the DL1 plots.

Both are products of the closing: the run-wise PDF comes from each run's merge job (the
profile's ``datacheck_run`` step), the long-term check from a closing job over the night's
run-wise files, at :attr:`osa_core.model.layout.NightLayout.longterm_file`. Each is copied
(it is small) from its final place into the web tree; one that is absent is listed as "not
produced" with the reason, never as a dead link.
"""

from __future__ import annotations

import re
from pathlib import Path

from osa_core.model.layout import NightLayout
from osa_core.model.placing import copy_into_place
from osa_core.model.snapshot import NightSnapshot
from osa_core.model.states import SequenceType
from osa_core.pipeline.factory import is_simulation
from osa_core.publish.nightpage import Plot, Section

RUN_PDF = re.compile(r"^datacheck_dl1_LST-\d\.Run(\d{5})(\.\d{4})?\.pdf$")
"""lstchain's run-wise datacheck PDF (a one-subrun run keeps the subrun's name)."""
LONGTERM_COLUMNS = (
    ("runnumber", "run"),
    ("elapsed_time", "elapsed (s)"),
    ("num_cosmics", "cosmics"),
    ("num_pedestals", "pedestals"),
    ("mean_altitude", "mean altitude (rad)"),
    ("cosmics_fraction_pulses_above30", "pulses > 30 p.e. (fraction)"),
)
"""What the page shows of the long-term check's ``runsummary`` table, per run."""


def run_pdfs(layout: NightLayout) -> dict[int, Path]:
    """The run-wise PDFs in their final place (a staged one is not verified yet), by run."""
    directory = layout.final_dir("datacheck")
    if not directory.is_dir():
        return {}
    found = {}
    for path in sorted(directory.glob("*.pdf")):
        match = RUN_PDF.match(path.name)
        if match:
            found[int(match.group(1))] = path
    return found


def publish_copy(layout: NightLayout, src: Path, category: str = "dl1") -> Path:
    dst = layout.web_night_dir(category) / src.name
    if not dst.exists() or dst.stat().st_size != src.stat().st_size:
        copy_into_place(src, dst)
    return dst


def build_section(snapshot: NightSnapshot, layout: NightLayout, plots: list[Plot]) -> Section:
    notes: list[str] = []
    documents: list[Plot] = []
    tables: list[tuple[tuple[str, ...], ...]] = []
    runs = [s.run for s in snapshot.sequences if s.type is SequenceType.DATA]
    pdfs = run_pdfs(layout)
    for run in runs:
        if run in pdfs:
            documents.append(
                Plot("dl1", publish_copy(layout, pdfs[run]), f"run {run:05d}: lstchain datacheck")
            )
        else:
            why = _pdf_reason(snapshot, layout)
            notes.append(f"Run {run:05d}: lstchain's run-wise datacheck PDF not produced: {why}")
    longterm = layout.longterm_file
    html = layout.longterm_page
    if longterm.is_file():
        documents.append(Plot("dl1", publish_copy(layout, longterm), "long-term DL1 check (HDF5)"))
        if html.is_file():
            documents.append(
                Plot("dl1", publish_copy(layout, html), "long-term DL1 check (interactive page)")
            )
        else:
            notes.append(f"Long-term DL1 check: its interactive page was not made ({html.name}).")
        table, said = _longterm_table(longterm)
        if table:
            tables.append(table)
        notes.append(f"Long-term DL1 check: {longterm}{said}")
    else:
        notes.append(f"Long-term DL1 check not produced: {_longterm_reason(snapshot, layout)}")
    if not plots and not runs:
        notes.append("No DL1 yet: no data run this night.")
    return Section("dl1", "DL1", tuple(notes), tuple(tables), tuple(plots), tuple(documents))


def _pdf_reason(snapshot: NightSnapshot, layout: NightLayout) -> str:
    if is_simulation(layout.config):
        return "the simulate profile runs no lstchain_check_dl1."
    extra = layout.config.pipeline.lstchain.extra_args.get("datacheck_run", ())
    if "--omit-pdf" in extra:
        return "--omit-pdf is in pipeline.lstchain.extra_args.datacheck_run (the files are merged only)."
    where = layout.final_dir("datacheck")
    return f"none in {where}; it is made when the night is closed (see the run's merge job log)."


def _longterm_reason(snapshot: NightSnapshot, layout: NightLayout) -> str:
    if is_simulation(layout.config):
        return "the simulate profile runs no lstchain_longterm_dl1_check."
    path = layout.longterm_file
    return f"{path} does not exist; it is made when the night is closed, over the run-wise checks."


def _longterm_table(path: Path) -> tuple[tuple[tuple[str, ...], ...], str]:
    """The per-run summary the long-term check wrote, as rows (empty, and why, if unreadable)."""
    import pandas as pd

    try:
        summary = pd.read_hdf(path, "runsummary")
    except (OSError, KeyError, ValueError) as exc:
        return (), f" (its run summary cannot be read: {exc})"
    columns = [(key, label) for key, label in LONGTERM_COLUMNS if key in summary.columns]
    rows: list[tuple[str, ...]] = [tuple(label for _, label in columns)]
    for _, record in summary.iterrows():
        rows.append(tuple(_cell(record[key]) for key, _ in columns))
    return tuple(rows), f" ({len(summary)} run(s))"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
