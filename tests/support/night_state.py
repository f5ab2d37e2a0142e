"""Building a tracked night from hand-written ledger rows: the engine's state without the engine.

The pure modules (previews, the closing decision) read a :class:`NightState` and its snapshot; these
helpers make both from real :class:`Sequence` records and ledger :class:`TaskRow` s, so a test
states a night as a shifter would describe it ("subrun 2 ran out of memory on its first try").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from osa_core.model.records import Sequence
from osa_core.model.snapshot import NightSnapshot, SchedulerHealth
from osa_core.model.states import JobState, SequenceType
from osa_core.track.frame import Frame, Profile
from osa_core.track.ledger import SubmissionRow, TaskRow
from osa_core.track.tracking import NightState

NIGHT = dt.date(2020, 1, 27)
NOW = dt.datetime(2020, 1, 28, 3, 0, tzinfo=dt.UTC)
PROFILE = Profile(
    name="simulate",
    simulation=True,
    step_names={SequenceType.CALIBRATION: ("drs4_baseline",), SequenceType.DATA: ("r0_to_dl1",)},
    step_labels={},
)

CAL = Sequence(0, SequenceType.CALIBRATION, 1873, 1, None, 1872)
"""The night's calibration: one single job (no array index)."""
RUN_A = Sequence(1, SequenceType.DATA, 1874, 4, 0)
RUN_B = Sequence(2, SequenceType.DATA, 1875, 3, 0)
NIGHT_SEQUENCES = (CAL, RUN_A, RUN_B)


def job_id(seq: int, attempt: int) -> str:
    """``1001`` for seq 1's first array, ``2001`` for its second attempt: readable in assertions."""
    return f"{attempt}{seq:03d}"


def task(
    seq: int,
    subrun: int,
    state: JobState,
    attempt: int = 1,
    *,
    job: str | None = None,
    exit_code: int | None = None,
    reason: str | None = None,
) -> TaskRow:
    """One attempt of one subrun as the ledger holds it; the calibration is a single job."""
    index = None if seq == CAL.seq else subrun
    if exit_code is None and state.failed:
        exit_code = 1
    return TaskRow(
        seq,
        subrun,
        attempt,
        job or job_id(seq, attempt),
        index,
        state,
        exit_code=exit_code,
        reason=reason,
    )


def tasks_of(seq: int, states: Iterable[JobState], attempt: int = 1) -> list[TaskRow]:
    """One task per subrun, subrun i in the i-th state."""
    return [task(seq, i, s, attempt) for i, s in enumerate(states)]


def submission(
    seq: int, attempt: int, memory: str | None = None, walltime: str | None = None
) -> SubmissionRow:
    """The ledger's record of the array ``job_id(seq, attempt)``, with what it asked for."""
    return SubmissionRow(
        id=seq * 10 + attempt,
        seq=seq,
        name=f"LST1_{seq}",
        job_id=job_id(seq, attempt),
        status="submitted",
        indices=None,
        attempts=(attempt,),
        submitted_at=NOW,
        script="/dev/null",
        memory=memory,
        walltime=walltime,
        after_ok=(),
    )


def night(
    tasks: Iterable[TaskRow], sequences: Iterable[Sequence] = NIGHT_SEQUENCES
) -> tuple[NightState, NightSnapshot]:
    """The tracked night and its first (full) snapshot."""
    state = NightState(sequences, tasks, [])
    snapshot = state.snapshot(
        Frame(NIGHT, "local", PROFILE, SchedulerHealth(ok=True, last_ok=NOW), NOW), None
    )
    return state, snapshot
