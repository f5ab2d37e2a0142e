"""When a night will be done, estimated from what the night itself has shown so far.

A pure function of a :class:`NightSnapshot`: how long each step takes, learnt from the subruns
that ran it (steps still running count as "at least this long", :mod:`osa_core.track.durations`),
the subruns left, and the concurrency actually observed (how many subruns ran at once on average
since the first one started), not the configured one: a shared cluster gives us fewer slots
than we ask for. The subruns left are then placed on that many slots, the running ones first
with what their remaining steps should take, so the estimate includes the last, partly empty
wave of the night. People are shown the median per step; the placement adds up means, since a
night of many subruns lasts as long as their total, and durations are skewed to the right.
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
from osa_core.track.durations import Durations

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
    """Subruns running at once on average, over the last two subrun lengths (None: none started)."""
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
    data = [r for r in subruns if types[r.seq] is SequenceType.DATA]
    calibrations = [r for r in subruns if types[r.seq] is SequenceType.CALIBRATION]
    learnt = {
        SequenceType.DATA: step_durations(data, now),
        SequenceType.CALIBRATION: step_durations(calibrations, now),
    }
    names = {kind: snapshot.step_names.get(kind, ()) for kind in learnt}
    # The calibration runs alone before the data: it says nothing of how many data subruns
    # the cluster runs at once, once any has started.
    pool = data if any(r.start for r in data) else subruns
    seen = learnt[SequenceType.DATA]
    medians = {name: d.median for name, d in seen.items()}
    unseen = [n for n in names[SequenceType.DATA] if n not in seen]
    needs_data = any(types[r.seq] is SequenceType.DATA for r in left)
    common = {"left": len(left), "running": len(running), "blocked": blocked, "step_medians": medians}
    if not any(r.start for r in pool) or (needs_data and not seen):
        return Eta(
            at=None,
            done=False,
            basis=f"{len(left)} subruns left; no step has finished yet: no timing to go on",
            concurrency=observed_concurrency(pool, now),
            **common,  # type: ignore[arg-type]
        )
    # Many subruns add up to their mean, not their median (durations are skewed to the right).
    # A step not seen yet (the last ones early in the night) counts as long as the median of
    # the steps seen: better than 0 s, which would make the first estimates far too early.
    fill = statistics.median(d.mean for d in seen.values()) if seen else 0.0
    means = {
        kind: {
            n: learnt[kind][n].mean if n in learnt[kind] else (fill if kind is SequenceType.DATA else 0.0)
            for n in names[kind]
        }
        for kind in learnt
    }
    per_subrun = sum(means[SequenceType.DATA].values())
    # Over the last two subrun lengths: slots lost (or gained) earlier in the night no longer
    # weigh, and a window that long still sees whole waves.
    concurrency = observed_concurrency(pool, now, 2 * per_subrun if per_subrun > 0 else None) or 1.0
    # What runs now is observed too: more than the average (the ramp-up weighs on it) is real.
    slots = max(1, round(concurrency), len(running))
    busy = [now.timestamp() + _remaining(r, means[types[r.seq]], learnt[types[r.seq]], now) for r in running]
    whole = _subrun_durations(data, now)
    # A task is more than its steps (start-up, staging between steps): where whole subruns
    # took longer than their steps add up to, the whole is what a waiting one will take.
    cost = {
        SequenceType.DATA: max(sum(means[SequenceType.DATA].values()), whole.mean if whole else 0.0),
        SequenceType.CALIBRATION: sum(means[SequenceType.CALIBRATION].values()),
    }
    waiting = [cost[types[r.seq]] for r in left if r.state is not JobState.RUNNING]
    end, starts = _place(busy, waiting, slots, now.timestamp())
    if starts and whole is not None:
        end = max(end, _last_end(starts[-slots:], whole))
    basis = (
        f"{len(left)} subruns left ({len(running)} running), {concurrency:.1f} ran at once lately, "
        f"a subrun takes {_hms(per_subrun)} on average (per step, counting those still running"
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


def step_durations(subruns: Iterable[SubrunStatus], now: dt.datetime) -> dict[str, Durations]:
    """Per step, what its ended runs took and how long its running ones have run so far
    (skipped steps did not run; a failed subrun's unfinished step says nothing of its length)."""
    ended: dict[str, list[float]] = {}
    running: dict[str, list[float]] = {}
    for r in subruns:
        alive = r.state is JobState.RUNNING
        for step in r.steps:
            if step.skipped or step.start is None:
                continue
            if step.end is not None:
                ended.setdefault(step.name, []).append((step.end - step.start).total_seconds())
            elif alive:
                running.setdefault(step.name, []).append((now - step.start).total_seconds())
    out = {}
    for name, values in ended.items():
        durations = Durations.of(values, running.get(name, ()))
        if durations is not None:
            out[name] = durations
    return out


def observed_concurrency(
    subruns: Iterable[SubrunStatus], now: dt.datetime, window: float | None = None
) -> float | None:
    """Subrun-seconds run per second of wall time since the first subrun started, or over the
    last ``window`` seconds of that (a cluster that gives fewer slots now shows it sooner).

    Each attempt counts by its own start and end (the latest attempt is what a snapshot holds;
    earlier ones ran too, but their slots are not shown and they are few).
    """
    spans = [(r.start, r.end or now) for r in subruns if r.start is not None]
    if not spans:
        return None
    since = min(start for start, _ in spans)
    if window is not None:
        since = max(since, now - dt.timedelta(seconds=window))
    span = (now - since).total_seconds()
    if span <= 0:
        return None
    busy = sum(max(0.0, (min(end, now) - max(start, since)).total_seconds()) for start, end in spans)
    return busy / span


def _remaining(
    r: SubrunStatus, means: Mapping[str, float], learnt: Mapping[str, Durations], now: dt.datetime
) -> float:
    """What a running subrun still needs: the steps it has not started, and what its current step
    should still take given how long it has run already."""
    seen = {s.name: s for s in r.steps}
    left = 0.0
    for name, mean in means.items():
        step = seen.get(name)
        if step is None:
            left += mean
        elif step.running and step.start is not None:
            elapsed = (now - step.start).total_seconds()
            durations = learnt.get(name)
            left += durations.left(elapsed) if durations is not None else max(0.0, mean - elapsed)
    return left


def _subrun_durations(data: list[SubrunStatus], now: dt.datetime) -> Durations | None:
    """Whole data subruns, start to end: the completed ones, and the running ones so far."""
    ended = [
        (r.end - r.start).total_seconds() for r in data if r.state is JobState.COMPLETED and r.start and r.end
    ]
    running = [(now - r.start).total_seconds() for r in data if r.state is JobState.RUNNING and r.start]
    return Durations.of(ended, running)


def _place(busy: list[float], waiting: list[float], slots: int, now: float) -> tuple[float, list[float]]:
    """List scheduling: each waiting subrun takes the slot that frees first.
    The last end, and when each waiting subrun starts."""
    heap = [*busy, *([now] * max(0, slots - len(busy)))]
    heapq.heapify(heap)
    last = max(heap)
    starts = []
    for seconds in waiting:
        start = heapq.heappop(heap)
        starts.append(start)
        last = max(last, start + seconds)
        heapq.heappush(heap, start + seconds)
    return last, starts


def _last_end(starts: list[float], whole: Durations) -> float:
    """When the last wave is over, even odds: the night ends with its slowest subrun, not an
    average one. The time T at which every subrun started at ``starts`` has ended with a
    chance of one half, each as long as a whole subrun took so far (independently)."""
    low, high = max(starts), max(starts) + whole.tail
    if _all_ended(starts, whole, high) < 0.5:
        return high  # the slowest seen so far is all the curve knows
    for _ in range(40):
        mid = (low + high) / 2
        if _all_ended(starts, whole, mid) >= 0.5:
            high = mid
        else:
            low = mid
    return high


def _all_ended(starts: list[float], whole: Durations, t: float) -> float:
    chance = 1.0
    for start in starts:
        chance *= whole.ended_by(t - start)
        if chance == 0.0:
            break
    return chance


def _hms(seconds: float) -> str:
    h, rest = divmod(round(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
