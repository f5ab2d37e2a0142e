"""The ENF calibration section of the datacheck: conversion factors, pedestals and unusable pixels
per gain, from the charge calibration file, drawn on the camera.

lstchain's charge calibration file (``lstchain_create_calibration_file``) holds the tables
``/tel_1/calibration`` (``dc_to_pe``, ``pedestal_per_sample``, ``unusable_pixels``), ``pedestal``,
``flatfield`` and ``pixel_status``. A file not made from a real flat-field run (a test's nominal
file: one flat-field event, the same factor for every pixel) is said to be not physical, in a
warning at the top of the section: the charge scale of the night's DL1 then means nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osa_core.model.fileio import atomic_write
from osa_core.model.layout import NightLayout
from osa_core.model.snapshot import NightSnapshot
from osa_core.pipeline.factory import is_simulation
from osa_core.publish.camera import GAINS, CalibrationFiles, calibration_files, camera_figure
from osa_core.publish.figures import save_png
from osa_core.publish.nightpage import Plot, Section

if TYPE_CHECKING:
    from numpy.typing import NDArray

MIN_FLATFIELD_EVENTS = 100
"""Fewer flat-field (or pedestal) events than this cannot give a pixel's gain (lstchain uses ~10,000)."""
SHOWN_PIXELS = 30


@dataclass(frozen=True)
class ChargeCalibration:
    dc_to_pe: NDArray[Any]
    """(gains, pixels): photo-electrons per ADC count."""
    pedestal: NDArray[Any]
    """(gains, pixels): pedestal per sample, ADC counts."""
    unusable: NDArray[Any]
    """(gains, pixels), bool."""
    flatfield_events: int
    pedestal_events: int
    failing: dict[str, int]
    """Pixel-status flags: pixels flagged in either gain, per kind (hardware, pedestal, flatfield)."""


def read_calibration(path: Path) -> ChargeCalibration:
    import numpy as np
    import tables  # lstchain compresses with blosc, which PyTables reads without a plugin

    with tables.open_file(path, "r") as h5:
        row = h5.get_node("/tel_1/calibration")[0]
        flatfield = int(h5.get_node("/tel_1/flatfield")[0]["n_events"])
        pedestal = int(h5.get_node("/tel_1/pedestal")[0]["n_events"])
        status = h5.get_node("/tel_1/pixel_status")[0]
        failing = {
            kind: int(np.any(np.asarray(status[f"{kind}_failing_pixels"]), axis=0).sum())
            for kind in ("hardware", "pedestal", "flatfield")
        }
        return ChargeCalibration(
            dc_to_pe=np.asarray(row["dc_to_pe"], dtype=float),
            pedestal=np.asarray(row["pedestal_per_sample"], dtype=float),
            unusable=np.asarray(row["unusable_pixels"], dtype=bool),
            flatfield_events=flatfield,
            pedestal_events=pedestal,
            failing=failing,
        )


def not_physical(cal: ChargeCalibration) -> list[str]:
    """Why these values cannot be a real calibration (empty: nothing says so)."""
    import numpy as np

    why = []
    if cal.flatfield_events < MIN_FLATFIELD_EVENTS:
        why.append(f"its flat-field statistics come from {cal.flatfield_events} event(s)")
    usable = ~cal.unusable
    for g, gain in enumerate(GAINS):
        values = cal.dc_to_pe[g][usable[g] & np.isfinite(cal.dc_to_pe[g])]
        if values.size > 1 and np.ptp(values) == 0:
            why.append(f"every pixel has the same {gain}-gain conversion factor ({values[0]:.4g} p.e./ADC)")
    return why


def build_section(snapshot: NightSnapshot, layout: NightLayout) -> Section:
    title = "ENF calibration (charge)"
    found = calibration_files(snapshot, layout)
    if not found:
        return Section("enf", title, notes=("No calibration sequence this night: no charge calibration.",))
    notes: list[str] = []
    warnings: list[str] = []
    plots: list[Plot] = []
    tables: list[tuple[tuple[str, ...], ...]] = []
    for files in found:
        label = f"Calibration run {files.pedcal_run:05d}"
        if is_simulation(layout.config):
            notes.append(f"{label}: not shown: the simulate profile makes no charge calibration file.")
            continue
        if not files.charge.is_file():
            notes.append(f"{label}: not produced: {files.charge} does not exist.")
            continue
        try:
            cal = read_calibration(files.charge)
        except (OSError, KeyError, ValueError, IndexError, LookupError) as exc:
            notes.append(f"{label}: {files.charge.name} cannot be read: {exc}")
            continue
        given = (
            " (given in [pipeline.calibration], not computed this night)"
            if "charge" in files.external
            else ""
        )
        notes.append(
            f"{label}: {files.charge}{given}; {cal.flatfield_events} flat-field and "
            f"{cal.pedestal_events} pedestal event(s)."
        )
        why = not_physical(cal)
        if why:
            warnings.append(
                f"{label}: these values are NOT PHYSICAL: " + "; ".join(why) + ". The charge scale "
                "of this night's DL1 is not physical; the processing chain is."
            )
        tables.append(_table(files, cal))
        plots.append(draw_run(layout.web_night_dir("enf_calibration"), files, cal, bool(why)))
    values = tuple(Plot(p.category, p.path.with_suffix(".json"), f"{p.title}: values (JSON)") for p in plots)
    return Section("enf", title, tuple(notes), tuple(tables), tuple(plots), values, " ".join(warnings))


def _table(files: CalibrationFiles, cal: ChargeCalibration) -> tuple[tuple[str, ...], ...]:
    import numpy as np

    rows: list[tuple[str, ...]] = [
        ("run", "gain", "median p.e./ADC", "median pedestal (ADC/sample)", "unusable", "unusable pixels")
    ]
    for g, gain in enumerate(GAINS):
        bad = np.flatnonzero(cal.unusable[g]).tolist()
        listed = ", ".join(str(p) for p in bad[:SHOWN_PIXELS])
        more = f" and {len(bad) - SHOWN_PIXELS} more" if len(bad) > SHOWN_PIXELS else ""
        rows.append(
            (
                f"{files.pedcal_run:05d}",
                gain,
                f"{float(np.nanmedian(cal.dc_to_pe[g])):.4g}",
                f"{float(np.nanmedian(cal.pedestal[g])):.4g}",
                str(len(bad)),
                (listed + more) or "none",
            )
        )
    flags = ", ".join(f"{kind} {n}" for kind, n in cal.failing.items())
    rows.append((f"{files.pedcal_run:05d}", "pixel status", "", "", "", f"failing pixels: {flags}"))
    return tuple(rows)


def draw_run(where: Path, files: CalibrationFiles, cal: ChargeCalibration, unphysical: bool) -> Plot:
    """Draw one charge calibration on the camera and write its values beside it, in ``where``."""
    import numpy as np

    stem = f"calibration.Run{files.pedcal_run:05d}"
    sidecar = {
        "pedcal_run": files.pedcal_run,
        "file": str(files.charge),
        "physical": not unphysical,
        "flatfield_events": cal.flatfield_events,
        "pedestal_events": cal.pedestal_events,
        "gains": {
            gain: {
                "median_dc_to_pe": float(np.nanmedian(cal.dc_to_pe[g])),
                "median_pedestal_per_sample": float(np.nanmedian(cal.pedestal[g])),
                "unusable_pixels": np.flatnonzero(cal.unusable[g]).tolist(),
            }
            for g, gain in enumerate(GAINS)
        },
        "failing_pixels": cal.failing,
    }
    atomic_write(where / f"{stem}.json", json.dumps(sidecar, indent=1) + "\n")
    panels = []
    for g, gain in enumerate(GAINS):
        panels.append((f"{gain} gain: conversion factor", cal.dc_to_pe[g], "p.e. / ADC count"))
        panels.append((f"{gain} gain: pedestal per sample", cal.pedestal[g], "ADC counts"))
    caveat = " (NOT PHYSICAL)" if unphysical else ""
    title = f"Charge calibration run {files.pedcal_run:05d}{caveat}"
    path = where / f"{stem}.png"
    save_png(camera_figure(panels, title), path)
    return Plot("enf_calibration", path, title)
