"""The disk guard: a submission or a closing goes only when the file systems have room for it.

What a subrun needs is learnt from the night itself: the bytes its analysis directory holds,
divided by the subruns finished so far; before one has finished, the configured
``autopilot.bytes_per_subrun``. A submission needs that times its subruns, a closing that times
every subrun of the night (its products are merged, then copied to the final tree). Both the
analysis and the final file systems must hold it with ``autopilot.disk_margin_gib`` to spare;
otherwise the action is refused with a ``disk_low`` condition (one alert, through alerting.py),
and a later pass tries again. Real ``statvfs`` figures: a full disk is refused before jobs fail
half-written on it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from osa_core.autopilot.report import NightReport
from osa_core.engine import Engine
from osa_core.model.conditions import Condition, ConditionKind
from osa_core.model.snapshot import NightSnapshot
from osa_core.model.states import JobState

GIB = 1024**3


def tree_bytes(root: Path) -> int:
    """The bytes of every file under ``root`` (0 when it does not exist); links are not followed."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue  # removed while we walked: it needs no room
    return total


def bytes_per_subrun(analysis_dir: Path, snapshot: NightSnapshot, configured: int) -> tuple[float, str]:
    """What one subrun writes, and where the figure comes from (said in the refusal)."""
    finished = snapshot.totals.get(JobState.COMPLETED, 0)
    if finished:
        used = tree_bytes(analysis_dir)
        if used:
            return used / finished, f"{finished} finished subruns tonight"
    return float(configured), "autopilot.bytes_per_subrun"


def _existing(path: Path) -> Path | None:
    """The path or its nearest existing parent: a tree not made yet lives on its parent's disk."""
    return next((p for p in (path, *path.parents) if p.exists()), None)


def shortfalls(directories: list[Path], need: float, margin_gib: float, what: str) -> list[Condition]:
    """One DISK_LOW condition per file system (named by its first directory) short of room."""
    out: list[Condition] = []
    seen: set[int] = set()
    for directory in directories:
        where = _existing(directory)
        if where is None:
            continue
        try:
            device = os.stat(where).st_dev
            stats = os.statvfs(where)
        except OSError:
            continue  # cannot look: the alerts room's own disk check reports what it can
        if device in seen:
            continue
        seen.add(device)
        free = stats.f_bavail * stats.f_frsize
        if free - margin_gib * GIB < need:
            out.append(
                Condition(
                    ConditionKind.DISK_LOW,
                    f"room:{directory}",
                    f"no room for {what}: it needs {need / GIB:.2f} GiB, {directory} has "
                    f"{free / GIB:.2f} GiB free, {margin_gib:g} GiB kept spare (disk_margin_gib)",
                    "Free space on that file system (old nights' subrun products, logs); the "
                    "autopilot goes on by itself at the next pass once there is room.",
                )
            )
    return out


async def room_for(engine: Engine, subruns: int, what: str, report: NightReport) -> bool:
    """True when ``subruns`` more subruns' products fit; else the refusal is noted and a
    condition raised (the caller does not act)."""
    settings = engine.config.autopilot
    analysis = engine.layout.analysis_dir
    per, source = await asyncio.to_thread(
        bytes_per_subrun, analysis, engine.snapshot, settings.bytes_per_subrun
    )
    paths = [engine.config.paths.analysis, engine.config.paths.final]
    found = await asyncio.to_thread(shortfalls, paths, subruns * per, settings.disk_margin_gib, what)
    if not found:
        return True
    report.conditions += found
    report.notes.append(
        f"not {what}: no room on disk for {subruns} subrun(s) at {per / 1e6:.1f} MB each (from {source})"
    )
    return False
