"""Memory and wall-time requests: parsing SLURM's notations and raising them on resubmission."""

from __future__ import annotations

import math

_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


def memory_mb(text: str) -> int:
    """``4G`` -> 4096; a bare number is megabytes, as for ``sbatch --mem``."""
    value = text.strip().upper()
    unit = value[-1] if value and value[-1] in _UNITS else "M"
    number = value[:-1] if value and value[-1] in _UNITS else value
    return math.ceil(float(number) * _UNITS[unit])


def scale_memory(text: str, factor: float) -> str:
    return f"{math.ceil(memory_mb(text) * factor)}M"


def walltime_seconds(text: str) -> int:
    """SLURM's ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``."""
    days = 0
    rest = text.strip()
    if "-" in rest:
        d, rest = rest.split("-", 1)
        days = int(d)
        parts = [int(p) for p in rest.split(":")]
        while len(parts) < 3:
            parts.append(0)
        h, m, s = parts
    else:
        parts = [int(p) for p in rest.split(":")]
        if len(parts) == 1:
            h, m, s = 0, parts[0], 0
        elif len(parts) == 2:
            h, m, s = 0, parts[0], parts[1]
        else:
            h, m, s = parts
    return ((days * 24 + h) * 60 + m) * 60 + s


def format_walltime(seconds: float) -> str:
    total = math.ceil(seconds)
    days, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    core = f"{h:02d}:{m:02d}:{s:02d}"
    return f"{days}-{core}" if days else core


def scale_walltime(text: str, factor: float) -> str:
    return format_walltime(walltime_seconds(text) * factor)
