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
from collections.abc import Iterable, Mapping, Sequence
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


class NightTimes:
    """What the estimate reads of a night, gathered in one pass over its subruns in the night's
    order: from a snapshot (:func:`estimate`), or straight from ledger rows (a cold status)."""

    def __init__(self, now: dt.datetime, step_names: Mapping[SequenceType, tuple[str, ...]]) -> None:
        self.now = now
        self.step_names = step_names
        self.ended: dict[SequenceType, dict[str, list[float]]] = {kind: {} for kind in SequenceType}
        """Seconds each step took, where it ran and ended (a failed subrun's ended steps too)."""
        self.running_steps: dict[SequenceType, dict[str, list[float]]] = {kind: {} for kind in SequenceType}
        """Seconds each step of a running subrun has run so far."""
        self.spans: list[tuple[SequenceType, dt.datetime, dt.datetime]] = []
        """(type, start, end or now) of every subrun that started."""
        self.waiting: list[SequenceType] = []
        """The type of each subrun that will run and does not run yet."""
        self.running: list[tuple[SequenceType, dict[str, StepSpan]]] = []
        """Each running subrun's steps by name."""
        self.whole_ended: list[float] = []
        self.whole_running: list[float] = []
        """Whole data subruns, start to end: the completed ones, the running ones so far."""
        self.ends: list[dt.datetime] = []
        self.blocked = 0

    def subrun(
        self, kind: SequenceType, state: JobState, start: dt.datetime | None, end: dt.datetime | None
    ) -> bool:
        """Count one subrun; True when it runs (its steps, given next, say what it still needs)."""
        now = self.now
        if end is not None:
            self.ends.append(end)
        if start is not None:
            self.spans.append((kind, start, end or now))
        alive = state is JobState.RUNNING
        if alive:
            self.running.append((kind, {}))
        elif state in LEFT_STATES:
            self.waiting.append(kind)
        elif state is JobState.BLOCKED:
            self.blocked += 1
        if kind is SequenceType.DATA and start is not None:
            if state is JobState.COMPLETED and end is not None:
                self.whole_ended.append((end - start).total_seconds())
            elif alive:
                self.whole_running.append((now - start).total_seconds())
        return alive

    def steps(self, kind: SequenceType, alive: bool, steps: Iterable[Sequence[Any]]) -> None:
        """The steps of the subrun counted last (``alive``: that subrun runs), each as
        ``(name, start, end, skipped, seconds, ...)``, ``seconds`` from its start to its end."""
        ended, running = self.ended[kind], self.running_steps[kind]
        shown = self.running[-1][1] if alive else None
        for step in steps:
            name, start, end, skipped, seconds = step[0], step[1], step[2], step[3], step[4]
            if shown is not None:
                shown[name] = StepSpan(start, end)
            if skipped or start is None:
                continue  # skipped steps did not run; a failed subrun's unfinished step says nothing
            if seconds is not None:
                if name in ended:
                    ended[name].append(seconds)
                else:
                    ended[name] = [seconds]
            elif alive:
                running.setdefault(name, []).append((self.now - start).total_seconds())

    def merge(self, other: NightTimes) -> None:
        """Add what ``other`` gathered (the subruns after this one's, in the night's order): the
        same as one pass over both (a cold status gathers per sequence, some from its cache)."""
        for kind in SequenceType:
            for mine, theirs in ((self.ended[kind], other.ended[kind]),
                                 (self.running_steps[kind], other.running_steps[kind])):  # fmt: skip
                for name, values in theirs.items():
                    mine.setdefault(name, []).extend(values)
        self.spans += other.spans
        self.waiting += other.waiting
        self.running += other.running
        self.whole_ended += other.whole_ended
        self.whole_running += other.whole_running
        self.ends += other.ends
        self.blocked += other.blocked

    def learnt(self, kind: SequenceType) -> dict[str, Durations]:
        """Per step of ``kind``: what its ended runs took and how long its running ones have run."""
        out = {}
        for name, values in self.ended[kind].items():
            durations = Durations.of(values, self.running_steps[kind].get(name, ()))
            if durations is not None:
                out[name] = durations
        return out


@dataclass(frozen=True, slots=True)
class StepSpan:
    start: dt.datetime | None
    end: dt.datetime | None

    @property
    def running(self) -> bool:
        return self.start is not None and self.end is None


def estimate(snapshot: NightSnapshot, now: dt.datetime | None = None) -> Eta:
    """The night's end as ``snapshot`` shows it, ``now`` being the snapshot's time by default."""
    times = NightTimes(now or snapshot.taken_at, snapshot.step_names)
    for sequence in snapshot.sequences:
        kind = sequence.type
        for r in snapshot.subruns.get(sequence.seq, ()):
            alive = times.subrun(kind, r.state, r.start, r.end)
            times.steps(kind, alive, [(s.name, s.start, s.end, s.skipped, s.seconds) for s in r.steps])
    return estimate_times(times)


def estimate_times(times: NightTimes) -> Eta:
    """The night's end from its gathered times (see :class:`NightTimes`)."""
    now = times.now
    blocked = times.blocked
    running = times.running
    left = len(running) + len(times.waiting)
    if not left:
        return Eta(
            at=max(times.ends) if times.ends else None,
            done=True,
            basis="nothing left to run" + (f" ({blocked} blocked)" if blocked else ""),
            blocked=blocked,
        )
    learnt = {kind: times.learnt(kind) for kind in (SequenceType.DATA, SequenceType.CALIBRATION)}
    names = {kind: times.step_names.get(kind, ()) for kind in learnt}
    # The calibration runs alone before the data: it says nothing of how many data subruns
    # the cluster runs at once, once any has started.
    data_spans = [(start, end) for kind, start, end in times.spans if kind is SequenceType.DATA]
    pool = data_spans or [(start, end) for _, start, end in times.spans]
    seen = learnt[SequenceType.DATA]
    medians = {name: d.median for name, d in seen.items()}
    unseen = [n for n in names[SequenceType.DATA] if n not in seen]
    needs_data = any(kind is SequenceType.DATA for kind in times.waiting) or any(
        kind is SequenceType.DATA for kind, _ in running
    )
    common = {"left": left, "running": len(running), "blocked": blocked, "step_medians": medians}
    if not pool or (needs_data and not seen):
        return Eta(
            at=None,
            done=False,
            basis=f"{left} subruns left; no step has finished yet: no timing to go on",
            concurrency=_concurrency(pool, now),
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
    concurrency = _concurrency(pool, now, 2 * per_subrun if per_subrun > 0 else None) or 1.0
    # What runs now is observed too: more than the average (the ramp-up weighs on it) is real.
    slots = max(1, round(concurrency), len(running))
    busy = [now.timestamp() + _remaining(steps, means[kind], learnt[kind], now) for kind, steps in running]
    whole = Durations.of(times.whole_ended, times.whole_running)
    # A task is more than its steps (start-up, staging between steps): where whole subruns
    # took longer than their steps add up to, the whole is what a waiting one will take.
    cost = {
        SequenceType.DATA: max(sum(means[SequenceType.DATA].values()), whole.mean if whole else 0.0),
        SequenceType.CALIBRATION: sum(means[SequenceType.CALIBRATION].values()),
    }
    waiting = [cost[kind] for kind in times.waiting]
    end, starts = _place(busy, waiting, slots, now.timestamp())
    if starts and whole is not None:
        end = max(end, _last_end(starts[-slots:], whole))
    basis = (
        f"{left} subruns left ({len(running)} running), {concurrency:.1f} ran at once lately, "
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


def observed_concurrency(
    subruns: Iterable[SubrunStatus], now: dt.datetime, window: float | None = None
) -> float | None:
    """Subrun-seconds run per second of wall time since the first subrun started, or over the
    last ``window`` seconds of that (a cluster that gives fewer slots now shows it sooner).

    Each attempt counts by its own start and end (the latest attempt is what a snapshot holds;
    earlier ones ran too, but their slots are not shown and they are few).
    """
    return _concurrency([(r.start, r.end or now) for r in subruns if r.start is not None], now, window)


def _concurrency(
    spans: list[tuple[dt.datetime, dt.datetime]], now: dt.datetime, window: float | None = None
) -> float | None:
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
    steps: Mapping[str, StepSpan],
    means: Mapping[str, float],
    learnt: Mapping[str, Durations],
    now: dt.datetime,
) -> float:
    """What a running subrun still needs: the steps it has not started, and what its current step
    should still take given how long it has run already."""
    left = 0.0
    for name, mean in means.items():
        step = steps.get(name)
        if step is None:
            left += mean
        elif step.running and step.start is not None:
            elapsed = (now - step.start).total_seconds()
            durations = learnt.get(name)
            left += durations.left(elapsed) if durations is not None else max(0.0, mean - elapsed)
    return left


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
