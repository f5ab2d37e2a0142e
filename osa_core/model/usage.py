"""What a task used of what it asked for: peak memory, CPU time, requested memory and time limit.

Figures come from the scheduler's accounting (sacct's MaxRSS, TotalCPU, ReqMem, Timelimit; the
local backend's wait4 of the task) and travel unchanged through the ledger into the snapshot.
The efficiency figures (:func:`memory_share`, :func:`cpu_share`, :func:`time_share`) and the
advice are pure, so the console, ``status --json`` and the report say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

KIB = 1024

FAR_BELOW = 0.25
"""Peak memory or run time under this share of the request: the request could be lowered."""
NEAR_LIMIT = 0.9
"""Peak memory or run time over this share of the request: the next subrun may hit the limit."""


@dataclass(frozen=True, slots=True)
class Usage:
    """One task's accounting; None where the scheduler did not say (yet)."""

    max_rss: int | None = None
    """Peak resident memory, bytes (sacct: the batch step's MaxRSS)."""
    cpu_seconds: float | None = None
    """User + system CPU time of the task and its children."""
    req_mem: int | None = None
    """Memory requested for the task, bytes."""
    time_limit: float | None = None
    """Wall time limit, seconds (None: unlimited or not said)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "max_rss": self.max_rss,
            "cpu_seconds": self.cpu_seconds,
            "req_mem": self.req_mem,
            "time_limit": self.time_limit,
        }

    @classmethod
    def from_json(cls, data: Any) -> Usage | None:
        """The ledger's JSON column back; None for no figures or a value that is not ours."""
        if not isinstance(data, dict):
            return None
        rss, req = _number(data.get("max_rss")), _number(data.get("req_mem"))
        return cls(
            None if rss is None else int(rss),
            _number(data.get("cpu_seconds")),
            None if req is None else int(req),
            _number(data.get("time_limit")),
        )

    @property
    def empty(self) -> bool:
        return (
            self.max_rss is None
            and self.cpu_seconds is None
            and self.req_mem is None
            and self.time_limit is None
        )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def memory_share(usage: Usage) -> float | None:
    """Peak memory as a share of the request."""
    if usage.max_rss is None or not usage.req_mem:
        return None
    return usage.max_rss / usage.req_mem


def cpu_share(usage: Usage, elapsed: float | None) -> float | None:
    """CPU time as a share of wall time (one CPU per task: 1.0 is a busy CPU)."""
    if usage.cpu_seconds is None or not elapsed or elapsed <= 0:
        return None
    return usage.cpu_seconds / elapsed


def time_share(usage: Usage, elapsed: float | None) -> float | None:
    """Wall time as a share of the time limit."""
    if elapsed is None or not usage.time_limit:
        return None
    return elapsed / usage.time_limit


def size_text(n: float | None) -> str:
    """Bytes as people read them: ``2.1 GB``, ``350 MB`` (binary units, as sacct's K/M/G)."""
    if n is None:
        return "?"
    for unit, scale in (("TB", KIB**4), ("GB", KIB**3), ("MB", KIB**2), ("kB", KIB)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{n:.0f} B"


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """A group of finished tasks (one sequence type's jobs): the worst peaks, the typical CPU share."""

    tasks: int
    max_rss: int | None
    req_mem: int | None
    cpu: float | None
    """Median CPU share."""
    time: float | None
    """Largest share of the time limit used."""

    def line(self, label: str) -> str:
        """``r0_to_dl1: 2.1 GB of 4 GB requested, CPU 93 %, 18 % of wall time limit``."""
        parts = []
        if self.max_rss is not None:
            asked = f" of {size_text(self.req_mem)} requested" if self.req_mem else ""
            parts.append(f"{size_text(self.max_rss)}{asked}")
        if self.cpu is not None:
            parts.append(f"CPU {self.cpu:.0%}".replace("%", " %"))
        if self.time is not None:
            parts.append(f"{self.time:.0%}".replace("%", " %") + " of wall time limit")
        return f"{label}: " + (", ".join(parts) if parts else "no accounting yet")

    def advice(self) -> str | None:
        """A request far above or close to what is used, in words; None: the requests fit."""
        words = []
        mem = None if self.max_rss is None or not self.req_mem else self.max_rss / self.req_mem
        if mem is not None and self.max_rss is not None and mem < FAR_BELOW:
            words.append(f"memory request could be lowered to about {size_text(self.max_rss * 1.5)}")
        elif mem is not None and mem > NEAR_LIMIT:
            words.append("memory peak is close to the request: raise it")
        if self.time is not None and self.time < FAR_BELOW:
            words.append("the wall time limit is far above the run time")
        elif self.time is not None and self.time > NEAR_LIMIT:
            words.append("run time is close to the wall time limit: raise it")
        return "; ".join(words) if words else None


def summarise(figures: Iterable[tuple[Usage, float | None]]) -> UsageSummary | None:
    """(usage, elapsed seconds) of finished tasks -> their summary; None when none has figures."""
    rows = [(u, e) for u, e in figures if not u.empty]
    if not rows:
        return None
    rss = [u.max_rss for u, _ in rows if u.max_rss is not None]
    req = [u.req_mem for u, _ in rows if u.req_mem]
    cpus = sorted(c for u, e in rows if (c := cpu_share(u, e)) is not None)
    times = [t for u, e in rows if (t := time_share(u, e)) is not None]
    return UsageSummary(
        tasks=len(rows),
        max_rss=max(rss) if rss else None,
        req_mem=max(req) if req else None,
        cpu=cpus[len(cpus) // 2] if cpus else None,
        time=max(times) if times else None,
    )
