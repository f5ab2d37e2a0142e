"""What the datacheck reads from a night's DL1 files: events, surviving images, intensities.

lstchain DL1: rows of the parameters table are events; an image survived cleaning when it kept
pixels (``n_pixels > 0``); intensities are histogrammed as they are read, per run, so a night
of 10,000 subrun files never sits in memory. The simulate profile's placeholders only carry an
event count. A subrun file removed after closing is replaced by its run's merged file.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from osa_core.model.layout import EVENT_TABLES, NightLayout
from osa_core.model.snapshot import NightSnapshot
from osa_core.model.states import JobState, SequenceType
from osa_core.pipeline.factory import is_simulation

LOG_INTENSITY_BINS = tuple(0.5 + 0.1 * i for i in range(56))
"""log10(intensity / p.e.) bin edges, 0.5 to 6.0."""


@dataclass(frozen=True, slots=True)
class SubrunEvents:
    run: int
    subrun: int
    events: int
    surviving: int | None
    """Images that survived cleaning (None: not known, e.g. a simulated placeholder)."""


@dataclass
class Dl1Stats:
    subruns: list[SubrunEvents] = field(default_factory=list)
    intensity: dict[int, list[int]] = field(default_factory=dict)
    """Per run, counts in :data:`LOG_INTENSITY_BINS`."""
    merged_only: dict[int, int] = field(default_factory=dict)
    """Runs known only from their merged file: run -> events."""


def collect(snapshot: NightSnapshot, layout: NightLayout) -> Dl1Stats:
    stats = Dl1Stats()
    lstchain = not is_simulation(layout.config)
    for status in snapshot.sequences:
        if status.type is not SequenceType.DATA:
            continue
        done = [s.subrun for s in snapshot.subruns.get(status.seq, ()) if s.state is JobState.COMPLETED]
        found = [s for s in done if layout.dl1(status.run, s).is_file()]
        for subrun in found:
            path = layout.dl1(status.run, subrun)
            if lstchain:
                _read_lstchain(path, status.run, subrun, stats)
            else:
                events = _placeholder_events(path)
                if events is not None:
                    stats.subruns.append(SubrunEvents(status.run, subrun, events, None))
        if done and not found:
            _read_merged(layout, status.run, lstchain, stats)
    return stats


def _placeholder_events(path: Path) -> int | None:
    try:
        return int(json.loads(path.read_text())["events"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_merged(layout: NightLayout, run: int, lstchain: bool, stats: Dl1Stats) -> None:
    path = layout.final_dir("DL1") / f"dl1_LST-{layout.tel}.Run{run:05d}.h5"
    if not path.is_file():
        return
    if lstchain:
        before = len(stats.subruns)
        _read_lstchain(path, run, -1, stats)
        for item in stats.subruns[before:]:
            stats.merged_only[run] = item.events
        del stats.subruns[before:]
        return
    try:
        per_subrun = json.loads(path.read_text())["per_subrun_events"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    stats.subruns.extend(SubrunEvents(run, i, int(n), None) for i, n in enumerate(per_subrun))


def _read_lstchain(path: Path, run: int, subrun: int, stats: Dl1Stats) -> None:
    import numpy as np
    import tables  # lstchain compresses DL1 with blosc: h5py alone cannot read it (no plugin)

    try:
        with tables.open_file(path, "r") as h5:
            table = h5.get_node(EVENT_TABLES["dl1"])
            names = table.colnames
            events = int(table.nrows)
            intensity = np.asarray(table.col("intensity"), dtype=float) if "intensity" in names else None
            pixels = np.asarray(table.col("n_pixels")) if "n_pixels" in names else None
    except (OSError, KeyError, tables.NoSuchNodeError, tables.HDF5ExtError):
        return
    surviving = None
    if pixels is not None:
        surviving = int(np.count_nonzero(pixels > 0))
    elif intensity is not None:
        surviving = int(np.count_nonzero(np.isfinite(intensity) & (intensity > 0)))
    stats.subruns.append(SubrunEvents(run, subrun, events, surviving))
    if intensity is not None:
        good = intensity[np.isfinite(intensity) & (intensity > 0)]
        counts, _ = np.histogram(np.log10(good), bins=LOG_INTENSITY_BINS)
        acc = stats.intensity.setdefault(run, [0] * (len(LOG_INTENSITY_BINS) - 1))
        for i, n in enumerate(counts):
            acc[i] += int(n)


def log_bin_centres() -> list[float]:
    edges = LOG_INTENSITY_BINS
    return [math.pow(10, (a + b) / 2) for a, b in itertools.pairwise(edges)]
