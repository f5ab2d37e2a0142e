"""Failure signatures on real snapshots: failed subruns grouped as the one problem they are."""

from __future__ import annotations

import dataclasses
import datetime as dt

from support.simnight import T0, PlayedTask, night, play, snapshot_at

from osa_core.model.records import Sequence
from osa_core.model.states import JobState
from osa_core.track.signatures import failure_groups, normalise

MIN = 60.0
SECONDS = (10 * MIN, 2 * MIN, 3 * MIN, 5 * MIN)


def failing_night() -> tuple[list[Sequence], list[PlayedTask]]:
    """3 runs x 10 subruns; 14 die of memory in R0->DL1 (12 on cp23), 3 miss their DL1 file in
    DL1->DL2 (a different path each), one fails in the datacheck with exit code 1."""
    sequences = night(runs=3, subruns=10)
    seconds: dict[tuple[int, int], tuple[float, ...]] = {
        (s.seq, i): (MIN, MIN, MIN) if s.is_calibration else SECONDS
        for s in sequences
        for i in range(1 if s.is_calibration else s.subruns)
    }
    played = {(p.seq, p.subrun): p for p in play(sequences, seconds, slots=8)}

    def fail(
        key: tuple[int, int], upto: int, state: JobState, node: str, code: int = 0, detail: str = ""
    ) -> None:
        p = played[key]
        played[key] = dataclasses.replace(
            p, steps=p.steps[: upto + 1], final=state, exit_code=code, node=node, detail=detail
        )

    oom = [(1, i) for i in range(10)] + [(2, i) for i in range(4)]
    for n, key in enumerate(oom):
        fail(key, 0, JobState.OUT_OF_MEMORY, "cp23" if n < 12 else "cp07")
    for sub in (4, 5, 6):
        path = f"/fefs/onsite/running_analysis/20200127/DL1/dl1_LST-1.Run01875.{sub:04d}.h5"
        fail((2, sub), 3, JobState.FAILED, f"cp0{sub}", 66, f"missing input: {path}")
    fail(
        (3, 0),
        1,
        JobState.FAILED,
        "cp01",
        1,
        "Traceback (most recent call last):\nValueError: 12 pixels saturated",
    )
    return sequences, list(played.values())


def test_failed_subruns_group_by_step_cause_and_message_with_nodes_counted() -> None:
    sequences, played = failing_night()
    snapshot = snapshot_at(sequences, played, T0 + dt.timedelta(hours=10))
    groups = failure_groups(snapshot)
    assert [g.count for g in groups] == [14, 3, 1]
    oom, missing, other = groups
    assert oom.describe() == "14 x OUT_OF_MEMORY in r0_to_dl1 (12 on node cp23)"
    assert oom.members == tuple([(1, i) for i in range(10)] + [(2, i) for i in range(4)])
    assert dict(oom.nodes) == {"cp23": 12, "cp07": 2}
    assert missing.describe() == "3 x exit 66 in dl1_to_dl2: missing input: <path>"
    assert missing.members == ((2, 4), (2, 5), (2, 6))
    assert other.describe() == "1 x exit 1 in dl1_datacheck (node cp01): ValueError: <n> pixels saturated"
    # every failed subrun is in exactly one group, and a front end can select them by key
    failed = {r.key for rows in snapshot.subruns.values() for r in rows if r.state.failed}
    assert {k for g in groups for k in g.members} == failed and len(failed) == 18
    assert oom.to_json()["members"][0] == [1, 0]
    assert oom.to_json()["summary"] == oom.describe()


def test_different_exit_codes_are_different_problems() -> None:
    sequences, played = failing_night()
    played = [dataclasses.replace(p, exit_code=2) if (p.seq, p.subrun) == (2, 6) else p for p in played]
    groups = failure_groups(snapshot_at(sequences, played, T0 + dt.timedelta(hours=10)))
    assert [(g.cause, g.count) for g in groups] == [
        ("OUT_OF_MEMORY", 14),
        ("exit 66", 2),
        ("exit 2", 1),
        ("exit 1", 1),
    ]


def test_a_night_without_failures_has_no_groups() -> None:
    sequences = night(runs=1, subruns=3)
    seconds = {(0, 0): (MIN, MIN, MIN), **{(1, i): SECONDS for i in range(3)}}
    assert (
        failure_groups(snapshot_at(sequences, play(sequences, seconds, 4), T0 + dt.timedelta(hours=2))) == ()
    )


def test_normalise_takes_out_paths_numbers_and_ids() -> None:
    assert normalise("cannot open /data/raw/20200127/LST-1.1.Run01874.0003.fits.fz: No such file") == (
        "cannot open <path>: No such file"
    )
    assert (
        normalise("MemoryError: 4096.5 MiB requested at 0x7f3a2b")
        == "MemoryError: <n> MiB requested at <hex>"
    )
    assert normalise("  read  dl1_LST-1.Run01874.0003.h5   failed ") == "read <path> failed"
    assert (
        normalise("SIMULATION: r0_to_dl1 fails (exit code 5)")
        == "SIMULATION: r0_to_dl1 fails (exit code <n>)"
    )
    assert normalise("") == ""
