"""SLURM's job-array index syntax (``0-5,9,12-13%4``), written and read in one place.

The job scripts, the SLURM commands and the pyslurm backend all write it; sacct's and squeue's
answers are read with it. The local backend speaks the same syntax, so one night's arrays read
the same on every backend.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from osa_core.model.errors import SchedulerError


def index_spec(indices: Iterable[int], throttle: int = 0) -> str:
    """``[0..5, 9, 12, 13]`` -> ``0-5,9,12-13`` (+ ``%throttle`` when positive): shortest form."""
    values = sorted(set(indices))
    if not values:
        raise SchedulerError("an array needs at least one index")
    if values[0] < 0:
        raise SchedulerError(f"array index {values[0]} is negative")
    parts: list[str] = []
    start = prev = values[0]
    for value in values[1:]:
        if value == prev + 1:
            prev = value
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = value
    parts.append(str(start) if start == prev else f"{start}-{prev}")
    spec = ",".join(parts)
    return f"{spec}%{throttle}" if throttle > 0 else spec


def expand_indices(spec: str) -> list[int]:
    """``"5-199%4"``, ``"1,3,5-7"``, ``"0-10:2"`` -> the indices (throttle suffix ignored)."""
    body = spec.split("%", 1)[0]
    out: list[int] = []
    for part in body.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", part.strip())
        if m is None:
            raise SchedulerError(f"cannot read array index range {spec!r}")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) else first
        step = int(m.group(3)) if m.group(3) else 1
        if last < first or step < 1:
            raise SchedulerError(f"cannot read array index range {spec!r}")
        out.extend(range(first, last + 1, step))
    return out
