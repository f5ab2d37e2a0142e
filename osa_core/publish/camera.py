"""Per-pixel values drawn on the LST camera with ctapipe's CameraDisplay, and the rules shared by
the calibration sections: robust outliers, finding a night's calibration files.

ctapipe and matplotlib are imported only when something is drawn (the console and ``status``
never pay for them); figures are objects without pyplot, safe in a worker thread. The camera's
geometry comes from ctapipe_io_lst's bundled description of LST-1 (no download).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osa_core.model.layout import NightLayout
from osa_core.model.snapshot import NightSnapshot
from osa_core.model.states import SequenceType

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from numpy.typing import NDArray

GAINS = ("high", "low")
"""Gain channels in the order lstchain's arrays hold them."""
OUTLIER_MADS = 5.0
OUTLIER_RULE = (
    f"a pixel is an outlier in a gain when its value is more than {OUTLIER_MADS:g} robust standard "
    "deviations (1.4826 x the median absolute deviation over the camera) from the camera's median, "
    "or when it has no value"
)


@dataclass(frozen=True, slots=True)
class CalibrationFiles:
    """The files one calibration sequence hands its data runs, and whether they were computed here."""

    drs4_run: int
    pedcal_run: int
    drs4: Path
    charge: Path
    external: tuple[str, ...]
    """Which of ``drs4``/``charge`` come from ``[pipeline.calibration]`` instead of this night."""


def calibration_files(snapshot: NightSnapshot, layout: NightLayout) -> list[CalibrationFiles]:
    """The night's calibration sequences' DRS4 and charge files (the profile's own naming rule)."""
    ext = layout.config.pipeline.calibration
    out = []
    for status in snapshot.sequences:
        if status.type is not SequenceType.CALIBRATION or status.drs4_run is None:
            continue
        out.append(
            CalibrationFiles(
                drs4_run=status.drs4_run,
                pedcal_run=status.run,
                drs4=ext.drs4 or layout.drs4_file(status.drs4_run),
                charge=ext.charge or layout.charge_file(status.run),
                external=tuple(n for n in ("drs4", "charge") if getattr(ext, n) is not None),
            )
        )
    return out


def outliers(values: NDArray[Any]) -> NDArray[Any]:
    """Indices of the outlier pixels of one gain (:data:`OUTLIER_RULE`)."""
    import numpy as np

    finite = np.isfinite(values)
    if not finite.any():
        return np.arange(values.size)
    median = np.median(values[finite])
    sigma = 1.4826 * np.median(np.abs(values[finite] - median))
    with np.errstate(invalid="ignore"):
        far = np.abs(values - median) > OUTLIER_MADS * sigma if sigma > 0 else values != median
    return np.flatnonzero(~finite | far)


@cache
def lst_geometry() -> Any:
    """LST-1's camera geometry (1855 pixels), as ctapipe_io_lst describes it."""
    from ctapipe_io_lst import LSTEventSource

    return LSTEventSource.create_subarray(tel_id=1).tel[1].camera.geometry


def camera_figure(panels: list[tuple[str, NDArray[Any], str]], title: str) -> Figure:
    """One camera image per panel ``(title, per-pixel values, colour-bar label)``, side by side."""
    import numpy as np
    from ctapipe.visualization import CameraDisplay
    from matplotlib.figure import Figure

    geometry = lst_geometry()
    columns = 2
    rows = (len(panels) + columns - 1) // columns
    fig = Figure(figsize=(11, 5 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, (name, values, label) in zip(axes, panels, strict=False):
        shown = np.where(np.isfinite(values), values, np.nan)
        display = CameraDisplay(geometry, image=shown, ax=ax, title=name)
        finite = shown[np.isfinite(shown)]
        if finite.size:  # the colour scale of the bulk: a few wild pixels must not flatten it
            low, high = np.percentile(finite, [0.5, 99.5])
            display.set_limits_minmax(float(low), float(high) if high > low else float(low) + 1)
        display.add_colorbar(ax=ax, label=label)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig
