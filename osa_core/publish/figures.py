"""What every datacheck figure shares: its title line, whole-number ticks, its PNG written whole.

matplotlib is imported only when a figure is drawn; figures are objects without pyplot, safe in
a worker thread.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osa_core.model.fileio import atomic_write
from osa_core.model.snapshot import NightSnapshot

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def title(snapshot: NightSnapshot, what: str) -> str:
    label = " (SIMULATION: placeholder data)" if snapshot.simulation else ""
    return f"LST-1 night {snapshot.date.isoformat()}: {what}{label}"


def integers() -> Any:
    """Tick marks on whole numbers: the axis counts subruns or tries."""
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def save_png(fig: Figure, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write(path, buf.getvalue())
