"""A night played forward in time on N slots, seen at any moment through the real tracking code.

A plan (calibration first, then data subruns, each a list of step durations) is placed on a
number of slots as a scheduler would (each task takes the slot that frees first); ``snapshot_at``
turns the night as it stands at a moment into the ledger rows the engine would hold then and
folds them through :class:`NightState` into a real :class:`NightSnapshot`.
"""

from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass

from osa_core.model.records import Sequence
from osa_core.model.snapshot import NightSnapshot, SchedulerHealth
from osa_core.model.states import JobState, SequenceType
from osa_core.track.frame import Frame, Profile
from osa_core.track.ledger import StepRow, TaskRow
from osa_core.track.tracking import NightState

T0 = dt.datetime(2020, 1, 28, 1, 0, tzinfo=dt.UTC)
CAL_STEPS = ("drs4_baseline", "charge_calibration", "time_calibration")
DATA_STEPS = ("r0_to_dl1", "dl1_datacheck", "muon_analysis", "dl1_to_dl2")
PROFILE = Profile(
    name="simulate",
    simulation=True,
    step_names={SequenceType.CALIBRATION: CAL_STEPS, SequenceType.DATA: DATA_STEPS},
    step_labels={},
)


@dataclass(frozen=True)
class PlayedTask:
    seq: int
    subrun: int
    start: dt.datetime
    steps: tuple[tuple[str, dt.datetime, dt.datetime], ...]
    node: str
    final: JobState = JobState.COMPLETED
    exit_code: int = 0
    detail: str = ""

    @property
    def end(self) -> dt.datetime:
        return self.steps[-1][2]


def night(runs: int, subruns: int) -> list[Sequence]:
    """One calibration and ``runs`` data runs of ``subruns`` subruns."""
    cal = Sequence(0, SequenceType.CALIBRATION, 1873, 1, None, 1872)
    return [cal] + [Sequence(i + 1, SequenceType.DATA, 1874 + i, subruns, 0) for i in range(runs)]


def play(
    sequences: list[Sequence],
    seconds: dict[tuple[int, int], tuple[float, ...]],
    slots: int,
    t0: dt.datetime = T0,
    lose: tuple[float, int] = (0.0, 0),
) -> list[PlayedTask]:
    """Each task's steps, back to back, from the moment a slot frees; data after the calibration.

    ``lose=(seconds, n)``: n slots go to someone else ``seconds`` after the start (a shared cluster).
    """
    played: list[PlayedTask] = []
    free = [t0.timestamp()] * slots
    heapq.heapify(free)
    cal_end = t0.timestamp()
    lost_at, to_lose = t0.timestamp() + lose[0], lose[1]
    for s in sequences:
        names = CAL_STEPS if s.is_calibration else DATA_STEPS
        for sub in range(1 if s.is_calibration else s.subruns):
            slot = heapq.heappop(free)
            while to_lose and slot >= lost_at and free:
                to_lose -= 1
                slot = heapq.heappop(free)
            at = max(slot, t0.timestamp() if s.is_calibration else cal_end)
            steps = []
            clock = at
            for name, duration in zip(names, seconds[(s.seq, sub)], strict=True):
                steps.append((name, _time(clock), _time(clock + duration)))
                clock += duration
            if s.is_calibration:
                cal_end = clock
            heapq.heappush(free, clock)
            played.append(PlayedTask(s.seq, sub, _time(at), tuple(steps), f"cp{len(played) % slots:02d}"))
    return played


def snapshot_at(sequences: list[Sequence], played: list[PlayedTask], now: dt.datetime) -> NightSnapshot:
    """The snapshot the engine would show at ``now`` (every task submitted at the start)."""
    tasks: list[TaskRow] = []
    steps: list[StepRow] = []
    for p in played:
        job = f"{100 + p.seq}"
        index = None if p.seq == 0 else p.subrun
        if p.start > now:
            tasks.append(TaskRow(p.seq, p.subrun, 1, job, index, JobState.PENDING))
            continue
        done = p.end <= now
        state = p.final if done else JobState.RUNNING
        code = p.exit_code if done else None
        tasks.append(
            TaskRow(
                p.seq, p.subrun, 1, job, index, state, code, None, p.node, p.start, p.end if done else None
            )
        )
        for i, (name, start, end) in enumerate(p.steps):
            if start > now:
                break
            last = i == len(p.steps) - 1
            # a task killed by the scheduler (memory, time, node) leaves its step without an end
            killed = last and p.final not in (JobState.COMPLETED, JobState.FAILED)
            ended = end <= now and not killed
            step_code = (p.exit_code if last else 0) if ended else None
            detail = p.detail if ended and last else ""
            steps.append(
                StepRow(
                    p.seq,
                    p.subrun,
                    1,
                    name,
                    start,
                    end if ended else None,
                    step_code,
                    False,
                    p.node,
                    job,
                    detail,
                )
            )
    tracked = NightState(sequences, tasks, steps)
    frame = Frame(dt.date(2020, 1, 27), "local", PROFILE, SchedulerHealth(ok=True, last_ok=now), now)
    return tracked.snapshot(frame, None)


def _time(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)
