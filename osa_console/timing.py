"""Pure views over a sequence's subruns: per-step timing summary, sorting and filtering."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from osa_core.model.snapshot import SubrunStatus
from osa_core.model.states import JobState


@dataclass(frozen=True, slots=True)
class StepSummary:
    name: str
    done: int
    """Subruns whose step finished (successfully or not) and was timed."""
    median: float | None
    slowest: float | None
    slowest_subrun: int | None


def step_summaries(subruns: Iterable[SubrunStatus], step_names: Sequence[str]) -> list[StepSummary]:
    """Median and slowest duration per step; skipped steps (done by an earlier attempt) are left out."""
    durations: dict[str, list[tuple[float, int]]] = {name: [] for name in step_names}
    for status in subruns:
        for step in status.steps:
            seconds = step.seconds
            if seconds is None or step.skipped or step.name not in durations:
                continue
            durations[step.name].append((seconds, status.subrun))
    out = []
    for name in step_names:
        values = durations[name]
        if not values:
            out.append(StepSummary(name, 0, None, None, None))
            continue
        slowest, slowest_subrun = max(values)
        out.append(
            StepSummary(name, len(values), statistics.median(v for v, _ in values), slowest, slowest_subrun)
        )
    return out


class SubrunFilter(StrEnum):
    ALL = "all"
    FAILED = "failed"
    RUNNING = "running"

    def keeps(self, status: SubrunStatus) -> bool:
        if self is SubrunFilter.FAILED:
            return status.state.failed
        if self is SubrunFilter.RUNNING:
            return status.state is JobState.RUNNING
        return True

    def next(self) -> SubrunFilter:
        members = list(SubrunFilter)
        return members[(members.index(self) + 1) % len(members)]


# Failed first when sorting by state: the rows a shifter is looking for.
_STATE_RANK = {
    **{state: 0 for state in JobState if state.failed},
    JobState.BLOCKED: 1,
    JobState.UNKNOWN: 2,
    JobState.RUNNING: 3,
    JobState.PENDING: 4,
    JobState.NOT_SUBMITTED: 5,
    JobState.COMPLETED: 6,
}

_MISSING = float("inf")  # rows without a value sort last, whatever the direction of the rest


SortValue = int | tuple[float, int] | tuple[str, int]
"""What rows are sorted by: a number, or a value with the subrun number to break ties."""


def sort_key(column: str) -> Callable[[SubrunStatus], SortValue]:
    """A key for the detail table's column ``column`` (a fixed column or ``step:<name>``)."""
    if column.startswith("step:"):
        name = column[5:]

        def by_step(status: SubrunStatus) -> tuple[float, int]:
            step = status.step(name)
            seconds = step.seconds if step is not None else None
            return (_MISSING if seconds is None else seconds, status.subrun)

        return by_step
    fixed: dict[str, Callable[[SubrunStatus], SortValue]] = {
        "subrun": lambda s: s.subrun,
        "state": lambda s: (_STATE_RANK.get(s.state, 9), s.subrun),
        "attempt": lambda s: (s.attempt, s.subrun),
        "node": lambda s: (s.node or "\uffff", s.subrun),
        "start": lambda s: (s.start.timestamp() if s.start else _MISSING, s.subrun),
        "exit": lambda s: (_MISSING if s.exit_code is None else s.exit_code, s.subrun),
    }
    return fixed[column]
