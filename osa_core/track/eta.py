"""When a night will be done, estimated from what the night itself has shown so far.

A pure function of a :class:`NightSnapshot`: the median duration of each step over the
subruns that ran it, the subruns left, and the concurrency actually observed (how many subruns
ran at once on average since the first one started), not the configured one: a shared cluster
gives us fewer slots than we ask for. The subruns left are then placed on that many slots, the
running ones first with what their remaining steps should take, so the estimate includes the
last, partly empty wave of the night.
"""

from __future__ import annotations

import datetime as dt
import heapq
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from osa_core.model.snapshot import NightSnapshot, SubrunStatus
from osa_core.model.states import JobState, SequenceType

LEFT_STATES = frozenset({JobState.NOT_SUBMITTED, JobState.PENDING, JobState.RUNNING, JobState.UNKNOWN})
"""States of a subrun that will still run. BLOCKED waits for a person (resubmitting its
calibration) and failed subruns for a resubmission: neither is counted until that happens."""


@dataclass(frozen=True, slots=True)
class Eta:
    """The estimate and what it rests on, for a front end to show both."""

    at: dt.datetime | None
    """When the last subrun left should end; None when the night has not shown enough yet."""
    done: bool
    """Nothing is left to run (the night may still have failures to resubmit)."""
    basis: str
    """The estimate in words: medians, subruns left, concurrency; or why there is none."""
    left: int = 0
    """Subruns that will still run (pending, running, not yet submitted)."""
    running: int = 0
    concurrency: float | None = None
    """Subruns running at once, on average since the first started (None: none started)."""
    subrun_seconds: float | None = None
    """What one data subrun takes, all steps together (median per step, summed)."""
    step_medians: Mapping[str, float] = field(default_factory=dict)
    blocked: int = 0
    """Subruns waiting on a failed calibration: not in the estimate."""

    def seconds_left(self, now: dt.datetime) -> float | None:
        return None if self.at is None else max(0.0, (self.at - now).total_seconds())

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat() if self.at is not None else None,
            "done": self.done,
            "basis": self.basis,
            "left": self.left,
            "running": self.running,
            "blocked": self.blocked,
            "concurrency": None if self.concurrency is None else round(self.concurrency, 2),
            "subrun_seconds": None if self.subrun_seconds is None else round(self.subrun_seconds, 1),
            "step_medians": {k: round(v, 1) for k, v in self.step_medians.items()},
        }


def estimate(snapshot: NightSnapshot, now: dt.datetime | None = None) -> Eta:
    """The night's end as ``snapshot`` shows it, ``now`` being the snapshot's time by default."""
    now = now or snapshot.taken_at
    subruns = [r for s in snapshot.sequences for r in snapshot.subruns.get(s.seq, ())]
    types = {s.seq: s.type for s in snapshot.sequences}
    left = [r for r in subruns if r.state in LEFT_STATES]
    blocked = sum(1 for r in subruns if r.state is JobState.BLOCKED)
    running = [r for r in left if r.state is JobState.RUNNING]
    if not left:
        ends = [r.end for r in subruns if r.end is not None]
        return Eta(
            at=max(ends) if ends else None,
            done=True,
            basis="nothing left to run" + (f" ({blocked} blocked)" if blocked else ""),
            blocked=blocked,
        )
    medians = {
        kind: step_medians(r for r in subruns if types[r.seq] is kind)
        for kind in (SequenceType.DATA, SequenceType.CALIBRATION)
    }
    names = {kind: snapshot.step_names.get(kind, ()) for kind in medians}
    data = [r for r in subruns if types[r.seq] is SequenceType.DATA]
    # The calibration runs alone before the data: it says nothing of how many data subruns
    # the cluster runs at once, once any has started.
    concurrency = observed_concurrency(data if any(r.start for r in data) else subruns, now)
    data_medians = medians[SequenceType.DATA]
    unseen = [n for n in names[SequenceType.DATA] if n not in data_medians]
    needs_data = any(types[r.seq] is SequenceType.DATA for r in left)
    common = {"left": len(left), "running": len(running), "blocked": blocked, "step_medians": data_medians}
    if concurrency is None or (needs_data and not data_medians):
        return Eta(
            at=None,
            done=False,
            basis=f"{len(left)} subruns left; no step has finished yet: no timing to go on",
            concurrency=concurrency,
            **common,  # type: ignore[arg-type]
        )
    # A step not seen yet (the last ones early in the night) counts as long as the median of
    # the steps seen: better than 0 s, which would make the first estimates far too early.
    fill = statistics.median(data_medians.values()) if data_medians else 0.0
    full = {
        kind: {n: medians[kind].get(n, fill if kind is SequenceType.DATA else 0.0) for n in names[kind]}
        for kind in medians
    }
    # What runs now is observed too: more than the average (the ramp-up weighs on it) is real.
    slots = max(1, round(concurrency), len(running))
    busy = [now.timestamp() + _remaining(r, full[types[r.seq]], now) for r in running]
    waiting = [sum(full[types[r.seq]].values()) for r in left if r.state is not JobState.RUNNING]
    end = _place(busy, waiting, slots, now.timestamp())
    per_subrun = sum(full[SequenceType.DATA].values())
    basis = (
        f"{len(left)} subruns left ({len(running)} running), {concurrency:.1f} ran at once on average, "
        f"a subrun takes {_hms(per_subrun)} (median per step"
        + (f"; {', '.join(unseen)} not seen yet" if unseen else "")
        + ")"
        + (f"; {blocked} blocked not counted" if blocked else "")
    )
    return Eta(
        at=dt.datetime.fromtimestamp(end, dt.UTC),
        done=False,
        basis=basis,
        concurrency=concurrency,
        subrun_seconds=per_subrun,
        **common,  # type: ignore[arg-type]
    )


def step_medians(subruns: Iterable[SubrunStatus]) -> dict[str, float]:
    """Median seconds per step over the steps that ran to their end (skipped ones did not run)."""
    samples: dict[str, list[float]] = {}
    for r in subruns:
        for step in r.steps:
            seconds = step.seconds
            if seconds is not None and not step.skipped:
                samples.setdefault(step.name, []).append(seconds)
    return {name: statistics.median(values) for name, values in samples.items()}


def observed_concurrency(subruns: Iterable[SubrunStatus], now: dt.datetime) -> float | None:
    """Subrun-seconds run per second of wall time since the first subrun started.

    Each attempt counts by its own start and end (the latest attempt is what a snapshot holds;
    earlier ones ran too, but their slots are not shown and they are few).
    """
    first: dt.datetime | None = None
    busy = 0.0
    for r in subruns:
        if r.start is None:
            continue
        end = r.end or now
        busy += max(0.0, (end - r.start).total_seconds())
        first = r.start if first is None or r.start < first else first
    if first is None:
        return None
    span = (now - first).total_seconds()
    return busy / span if span > 0 else None


def _remaining(r: SubrunStatus, medians: Mapping[str, float], now: dt.datetime) -> float:
    """What a running subrun still needs: the steps it has not started, and the rest of its
    current step (at least nothing; a step past its median is taken to end now)."""
    seen = {s.name: s for s in r.steps}
    left = 0.0
    for name, median in medians.items():
        step = seen.get(name)
        if step is None:
            left += median
        elif step.running and step.start is not None:
            left += max(0.0, median - (now - step.start).total_seconds())
    return left


def _place(busy: list[float], waiting: list[float], slots: int, now: float) -> float:
    """List scheduling: each waiting subrun takes the slot that frees first; the last end."""
    heap = [*busy, *([now] * max(0, slots - len(busy)))]
    heapq.heapify(heap)
    last = max(heap)
    for seconds in waiting:
        end = heapq.heappop(heap) + seconds
        last = max(last, end)
        heapq.heappush(heap, end)
    return last


def _hms(seconds: float) -> str:
    h, rest = divmod(round(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
