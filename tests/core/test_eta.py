"""The night's ETA on real snapshots (ledger rows folded through NightState), at chosen moments."""

from __future__ import annotations

import dataclasses
import datetime as dt

from support.simnight import T0, night, play, snapshot_at

from osa_core.model.records import Sequence
from osa_core.model.states import JobState
from osa_core.track.durations import Durations
from osa_core.track.eta import estimate

MIN = 60.0


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def uniform(
    sequences: list[Sequence],
    cal: tuple[float, ...] = (2 * MIN, 2 * MIN, 1 * MIN),
    data: tuple[float, ...] = (10 * MIN, 2 * MIN, 3 * MIN, 5 * MIN),
) -> dict[tuple[int, int], tuple[float, ...]]:
    return {
        (s.seq, i): cal if s.is_calibration else data
        for s in sequences
        for i in range(1 if s.is_calibration else s.subruns)
    }


def test_a_night_of_equal_subruns_ends_when_its_waves_do() -> None:
    # calibration 0-5 min; 20 subruns of 20 min on 4 slots: 5 waves, the last ends at 105 min
    sequences = night(runs=1, subruns=20)
    played = play(sequences, uniform(sequences), slots=4)
    assert max(p.end for p in played) == at(105)
    snapshot = snapshot_at(sequences, played, at(52))  # wave 3 (45-65) is 7 min in
    eta = estimate(snapshot)
    assert not eta.done
    assert eta.left == 12 and eta.running == 4
    assert eta.concurrency is not None and round(eta.concurrency) == 4
    assert eta.subrun_seconds == 20 * MIN
    assert eta.step_medians["r0_to_dl1"] == 10 * MIN
    assert eta.at == at(105)
    assert "12 subruns left (4 running)" in eta.basis


def test_the_observed_concurrency_counts_not_the_configured_one() -> None:
    # the same night on 2 slots: half the subruns at once, twice as long to go
    sequences = night(runs=1, subruns=20)
    played = play(sequences, uniform(sequences), slots=2)
    end = max(p.end for p in played)
    assert end == at(205)
    eta = estimate(snapshot_at(sequences, played, at(60)))
    assert eta.concurrency is not None and round(eta.concurrency) == 2
    assert eta.at == end


def test_slower_steps_later_in_the_night_move_the_estimate() -> None:
    sequences = night(runs=1, subruns=8)
    seconds = uniform(sequences)
    played = play(sequences, seconds, slots=4)
    early = estimate(snapshot_at(sequences, played, at(30)))
    slow = {k: tuple(2 * x for x in v) if k[0] == 1 else v for k, v in seconds.items()}
    played_slow = play(sequences, slow, slots=4)
    later = estimate(snapshot_at(sequences, played_slow, at(50)))
    assert early.at is not None and later.at is not None
    assert later.subrun_seconds == 2 * early.subrun_seconds  # type: ignore[operator]
    assert later.at == max(p.end for p in played_slow)


def test_no_step_finished_yet_gives_no_time_and_says_why() -> None:
    sequences = night(runs=1, subruns=4)
    played = play(sequences, uniform(sequences), slots=4)
    eta = estimate(snapshot_at(sequences, played, at(-1)))  # nothing started
    assert eta.at is None and not eta.done
    assert eta.left == 5
    assert "no timing" in eta.basis


def test_a_step_not_seen_yet_counts_as_the_median_of_those_seen() -> None:
    sequences = night(runs=1, subruns=4)
    played = play(sequences, uniform(sequences), slots=4)
    eta = estimate(snapshot_at(sequences, played, at(16)))  # r0_to_dl1 (10 min) ran, 1 min of datacheck
    assert set(eta.step_medians) == {"r0_to_dl1"}
    assert eta.subrun_seconds == 4 * 10 * MIN
    assert "dl1_datacheck, muon_analysis, dl1_to_dl2 not seen yet" in eta.basis


def test_a_finished_night_is_done_at_its_last_end() -> None:
    sequences = night(runs=2, subruns=3)
    played = play(sequences, uniform(sequences), slots=4)
    eta = estimate(snapshot_at(sequences, played, at(500)))
    assert eta.done and eta.left == 0
    assert eta.at == max(p.end for p in played)


def test_blocked_and_failed_subruns_are_not_waited_for() -> None:
    sequences = night(runs=1, subruns=4)
    played = play(sequences, uniform(sequences), slots=4)
    # the calibration failed: its data never starts and waits for a person
    failed_cal = dataclasses.replace(played[0], final=JobState.FAILED, exit_code=2)
    never = at(10_000)
    waiting = [
        dataclasses.replace(p, start=never, steps=tuple((n, never, never) for n, _, _ in p.steps))
        for p in played[1:]
    ]
    snapshot = snapshot_at(sequences, [failed_cal, *waiting], at(6))
    assert snapshot.totals.get(JobState.BLOCKED) == 4
    eta = estimate(snapshot)
    assert eta.done and eta.blocked == 4
    assert "4 blocked" in eta.basis


def test_steps_still_running_count_as_at_least_this_long() -> None:
    # 3 ended after 10 s, 7 have run 30 s and go on: the typical step is not 10 s
    durations = Durations.of([10.0] * 3, [30.0] * 7)
    assert durations is not None
    assert durations.median == 30.0  # at least: the curve has not fallen to one half yet
    assert durations.mean == 10.0 + 0.7 * 20.0
    assert durations.left(20.0) == 10.0
    assert durations.ended_by(9.0) == 0.0 and round(durations.ended_by(10.0), 6) == 0.3
    assert Durations.of([], [5.0]) is None  # nothing ended: nothing known


def test_slow_subruns_still_running_push_the_estimate_later() -> None:
    # half of the first wave is three times slower and still running when the fast half ends
    sequences = night(runs=1, subruns=16)
    seconds = uniform(sequences)
    slow = {k: tuple(3 * x for x in v) if k[0] == 1 and k[1] % 2 else v for k, v in seconds.items()}
    played = play(sequences, slow, slots=8)
    snapshot = snapshot_at(sequences, played, at(30))  # fast ones ended at 25, slow ones end at 65
    eta = estimate(snapshot)
    ended_only = 20 * MIN  # what the medians of the ended steps alone would say a subrun takes
    assert eta.subrun_seconds is not None and eta.subrun_seconds > 1.2 * ended_only
    assert eta.at is not None and eta.at >= at(65)
