"""The DRS4 section of the datacheck: each pixel's baseline and its spread per gain, from the DRS4
pedestal file, drawn on the camera, with the outlier pixels listed.

lstchain's DRS4 pedestal file holds, per gain, pixel and capacitor, the mean baseline and how many
samples made it (``/r1/monitoring/drs4_baseline/tel_001``). A pixel's baseline is the mean over
its sampled capacitors weighted by their sample counts; its spread is the weighted standard
deviation of those capacitors' baselines around it (how much the baseline moves from capacitor to
capacitor). Every value shown is also written to a JSON file beside the plot, so what the page
says can be checked against the pedestal file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osa_core.model.fileio import atomic_write
from osa_core.model.layout import NightLayout
from osa_core.model.snapshot import NightSnapshot
from osa_core.pipeline.factory import is_simulation
from osa_core.publish.camera import (
    GAINS,
    OUTLIER_RULE,
    CalibrationFiles,
    calibration_files,
    camera_figure,
    outliers,
)
from osa_core.publish.figures import save_png
from osa_core.publish.nightpage import Plot, Section

if TYPE_CHECKING:
    from numpy.typing import NDArray

BASELINE_TABLE = "/r1/monitoring/drs4_baseline/tel_001"
SHOWN_OUTLIERS = 30
"""Outlier pixel ids listed on the page per gain (all of them are in the JSON file)."""


def pixel_baselines(path: Path) -> tuple[NDArray[Any], NDArray[Any]]:
    """(baseline, spread), each of shape (gains, pixels), in ADC counts; NaN for a pixel never sampled."""
    import numpy as np
    import tables  # lstchain compresses with blosc, which PyTables reads without a plugin

    with tables.open_file(path, "r") as h5:
        row = h5.get_node(BASELINE_TABLE)[0]
        mean = np.asarray(row["baseline_mean"], dtype=float)
        counts = np.asarray(row["baseline_counts"], dtype=float)
    total = counts.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        baseline = (mean * counts).sum(axis=2) / total
        spread = np.sqrt((counts * (mean - baseline[..., None]) ** 2).sum(axis=2) / total)
    return baseline, spread


def build_section(snapshot: NightSnapshot, layout: NightLayout) -> Section:
    found = calibration_files(snapshot, layout)
    if not found:
        return Section("drs4", "DRS4 baseline", notes=("No calibration sequence this night: no DRS4 file.",))
    notes: list[str] = []
    plots: list[Plot] = []
    tables: list[tuple[tuple[str, ...], ...]] = []
    for files in found:
        name = files.drs4.name
        if is_simulation(layout.config):
            notes.append(
                f"DRS4 run {files.drs4_run:05d}: not shown: the simulate profile makes no DRS4 file."
            )
            continue
        if not files.drs4.is_file():
            notes.append(f"DRS4 run {files.drs4_run:05d}: not produced: {files.drs4} does not exist.")
            continue
        try:
            plot, table = build_run(layout.web_night_dir("drs4"), files)
        except (OSError, KeyError, ValueError, IndexError, LookupError) as exc:
            notes.append(f"DRS4 run {files.drs4_run:05d}: {name} cannot be read: {exc}")
            continue
        plots.append(plot)
        tables.append(table)
        given = (
            " (given in [pipeline.calibration], not computed this night)" if "drs4" in files.external else ""
        )
        notes.append(f"DRS4 run {files.drs4_run:05d}: {files.drs4}{given}.")
    notes.append(
        "Baseline: each pixel's mean over its capacitors, weighted by their samples; spread: the "
        "weighted standard deviation of its capacitors' baselines. Outliers: " + OUTLIER_RULE + "."
    )
    values = tuple(Plot("drs4", p.path.with_suffix(".json"), f"{p.title}: values (JSON)") for p in plots)
    return Section("drs4", "DRS4 baseline", tuple(notes), tuple(tables), tuple(plots), values)


def build_run(where: Path, files: CalibrationFiles) -> tuple[Plot, tuple[tuple[str, ...], ...]]:
    """Draw one DRS4 file's camera plot and write its values beside it, in ``where``; the table rows."""
    import numpy as np

    baseline, spread = pixel_baselines(files.drs4)
    stem = f"drs4_baseline.Run{files.drs4_run:05d}"
    sidecar: dict[str, object] = {
        "drs4_run": files.drs4_run,
        "file": str(files.drs4),
        "unit": "ADC counts",
        "outlier_rule": OUTLIER_RULE,
        "gains": {},
    }
    rows: list[tuple[str, ...]] = [
        ("run", "gain", "median baseline", "median spread", "pixels sampled", "outliers", "outlier pixels")
    ]
    panels = []
    for g, gain in enumerate(GAINS):
        bad = sorted(set(outliers(baseline[g]).tolist()) | set(outliers(spread[g]).tolist()))
        sampled = np.isfinite(baseline[g])
        median_baseline = float(np.nanmedian(baseline[g])) if sampled.any() else float("nan")
        median_spread = float(np.nanmedian(spread[g])) if sampled.any() else float("nan")
        sidecar["gains"][gain] = {  # type: ignore[index]
            "baseline": _rounded(baseline[g]),
            "spread": _rounded(spread[g]),
            "median_baseline": _number(median_baseline),
            "median_spread": _number(median_spread),
            "outliers": bad,
        }
        listed = ", ".join(str(p) for p in bad[:SHOWN_OUTLIERS])
        more = f" and {len(bad) - SHOWN_OUTLIERS} more" if len(bad) > SHOWN_OUTLIERS else ""
        rows.append(
            (
                f"{files.drs4_run:05d}",
                gain,
                f"{median_baseline:.1f}",
                f"{median_spread:.1f}",
                str(int(sampled.sum())),
                str(len(bad)),
                (listed + more) or "none",
            )
        )
        panels.append((f"{gain} gain: baseline", baseline[g], "ADC counts"))
        panels.append((f"{gain} gain: spread over capacitors", spread[g], "ADC counts"))
    atomic_write(where / f"{stem}.json", json.dumps(sidecar, allow_nan=False, separators=(",", ":")) + "\n")
    fig = camera_figure(panels, f"DRS4 run {files.drs4_run:05d}: baseline and spread per pixel")
    path = where / f"{stem}.png"
    save_png(fig, path)
    return Plot("drs4", path, f"DRS4 run {files.drs4_run:05d}: baseline and spread per pixel"), tuple(rows)


def _number(value: float) -> float | None:
    """JSON has no NaN: a value that does not exist (a pixel never sampled) is null."""
    return round(value, 3) if value == value and abs(value) != float("inf") else None


def _rounded(values: NDArray[Any]) -> list[float | None]:
    return [_number(float(v)) for v in values]
