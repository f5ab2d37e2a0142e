"""sacct's resource figures read into numbers: MaxRSS, TotalCPU, ReqMem and Timelimit (pure).

What Slurm 22.05 prints, and older releases still in use around it:

- ``MaxRSS`` is empty on the allocation line and set on the step that ran (``.batch``), in
  KiB with a unit letter (``323640K``, ``1.50M``, ``2G``) or a bare number of bytes (``0``).
  It is sampled every ``JobAcctGatherFrequency`` seconds (30 by default): a task shorter than
  that has none unless it was submitted with ``--acctg-freq``.
- ``TotalCPU`` is ``[D-][HH:]MM:SS[.mmm]`` (``00:00.296``, ``01:02:03``, ``1-02:03:04``). With
  ``-X`` it reads 0: the allocation line only sums its steps when the steps are asked for.
- ``ReqMem`` is ``4G``/``4000M``; releases before 21.08 add ``n`` (per node) or ``c`` (per
  CPU): ``4Gn``, ``500Mc``. Our tasks take one CPU, so both mean the task's memory.
- ``Timelimit`` is ``[D-]HH:MM:SS``, ``MM:SS``, ``UNLIMITED`` or ``Partition_Limit``.

Empty fields and those words are None; anything else that does not read raises SchedulerError.
"""

from __future__ import annotations

import functools
import re

from osa_core.model.errors import SchedulerError

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)([nc]?)$")
_DURATION = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$")
_NO_VALUE = frozenset({"", "UNLIMITED", "Partition_Limit", "INVALID", "Unknown", "None"})


# Cached: a night's tasks share a handful of requests and limits, and a refresh reads thousands.
@functools.lru_cache(maxsize=4096)
def size_bytes(text: str, *, default_unit: str = "") -> int | None:
    """``323640K`` -> 331407360; ``4Gn`` -> 4 GiB; empty -> None. ``default_unit`` for a bare number."""
    text = text.strip()
    if text in _NO_VALUE:
        return None
    m = _SIZE.match(text)
    if m is None:
        raise SchedulerError(f"cannot read size {text!r}")
    unit = m.group(2) or default_unit
    return round(float(m.group(1)) * _UNITS[unit])


@functools.lru_cache(maxsize=4096)
def duration_seconds(text: str) -> float | None:
    """``1-02:03:04`` -> 93784.0; ``00:00.296`` -> 0.296; ``10:00`` -> 600.0; ``UNLIMITED`` -> None."""
    text = text.strip()
    if text in _NO_VALUE:
        return None
    m = _DURATION.match(text)
    if m is None:
        raise SchedulerError(f"cannot read duration {text!r}")
    days, hours, minutes, seconds = m.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)


def minutes_limit(text: str) -> float | None:
    """A Timelimit as seconds; a bare number is minutes, as ``--time`` reads it."""
    text = text.strip()
    if text.isdigit():
        return int(text) * 60.0
    return duration_seconds(text)
