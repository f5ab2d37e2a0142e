"""The autopilot's pure rules on nights described as a shifter would: what is retried, what is left to
a person and said so, and which runs may be submitted given the raw files really on disk."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from support.night_state import CAL, NOW, RUN_A, RUN_B, night, task, tasks_of

from osa_core.autopilot.policy import judge
from osa_core.autopilot.watchdog import check_raw, run_ends
from osa_core.model.config import AutopilotConfig, Config, PathsConfig
from osa_core.model.layout import NightLayout
from osa_core.model.records import Run
from osa_core.model.states import JobState, RunType

S = JobState
RULES = AutopilotConfig(max_tries=3, retry_patterns=["Stale file handle"])


def test_out_of_memory_is_retried_until_the_cap_then_left_to_a_person() -> None:
    tasks = [
        task(CAL.seq, 0, S.COMPLETED),
        *tasks_of(RUN_A.seq, [S.COMPLETED, S.OUT_OF_MEMORY, S.TIMEOUT, S.NODE_FAIL]),
        task(RUN_B.seq, 0, S.OUT_OF_MEMORY, attempt=3),
        task(RUN_B.seq, 1, S.COMPLETED),
        task(RUN_B.seq, 2, S.COMPLETED),
    ]
    _, snapshot = night(tasks)
    verdict = judge(snapshot, RULES)
    (retry,) = verdict.retries
    assert (retry.run, retry.keys) == (1874, ((1, 1), (1, 2), (1, 3)))
    assert retry.because() == "OUT_OF_MEMORY x1, TIMEOUT x1, NODE_FAIL x1"
    (condition,) = verdict.conditions
    assert condition.key == "retries_exhausted:run=1875"
    assert "1 failed after 3 tries (OUT_OF_MEMORY): 0000" in condition.summary
    assert verdict.given_up == (1875,)


def test_a_plain_failure_is_retried_only_when_its_message_matches_a_pattern() -> None:
    tasks = [
        task(CAL.seq, 0, S.COMPLETED),
        task(RUN_A.seq, 0, S.FAILED, reason="r0_to_dl1 failed: OSError: Stale file handle"),
        task(RUN_A.seq, 1, S.FAILED, reason="r0_to_dl1 failed: ValueError: no events"),
        task(RUN_A.seq, 2, S.COMPLETED),
        task(RUN_A.seq, 3, S.COMPLETED),
        *tasks_of(RUN_B.seq, [S.COMPLETED] * 3),
    ]
    _, snapshot = night(tasks)
    verdict = judge(snapshot, RULES)
    assert [(r.keys, r.because()) for r in verdict.retries] == [(((1, 0),), 'FAILED ("Stale file handle")')]
    assert [c.key for c in verdict.conditions] == ["retries_exhausted:run=1874"]
    assert "not worth retrying alone: 0001" in verdict.conditions[0].summary


def test_what_a_person_cancelled_stays_cancelled() -> None:
    tasks = [
        task(CAL.seq, 0, S.COMPLETED),
        *tasks_of(RUN_A.seq, [S.CANCELLED] * 4),
        # a person resubmitted it twice already: those tries count
        task(RUN_B.seq, 0, S.OUT_OF_MEMORY, attempt=3),
        task(RUN_B.seq, 1, S.COMPLETED),
        task(RUN_B.seq, 2, S.COMPLETED),
    ]
    _, snapshot = night(tasks)
    verdict = judge(snapshot, RULES)
    assert verdict.retries == ()
    assert verdict.cancelled == (1874,)
    assert [c.key for c in verdict.conditions] == ["retries_exhausted:run=1875"]


def test_a_failed_calibration_is_retried_once_then_it_and_its_data_are_conditions() -> None:
    blocked = [*tasks_of(RUN_A.seq, [S.BLOCKED] * 4), *tasks_of(RUN_B.seq, [S.BLOCKED] * 3)]
    _, first = night([task(CAL.seq, 0, S.FAILED), *blocked])
    verdict = judge(first, RULES)
    assert [(r.keys, r.calibration) for r in verdict.retries] == [(((0, 0),), True)]
    assert verdict.conditions == ()  # the retry re-arms the data: nothing for a person yet

    _, second = night([task(CAL.seq, 0, S.FAILED, attempt=2), *blocked])
    verdict = judge(second, RULES)
    assert verdict.retries == ()
    assert [c.key for c in verdict.conditions] == [
        "calibration_failed:run=1873",
        "data_blocked:run=1874",
        "data_blocked:run=1875",
    ]


def test_a_condition_keeps_its_key_as_the_night_changes() -> None:
    """Two passes agree they see the same incident, whatever the counts (the alerts rely on it)."""
    base = [task(CAL.seq, 0, S.COMPLETED), *tasks_of(RUN_A.seq, [S.COMPLETED] * 4)]
    _, one = night([*base, *tasks_of(RUN_B.seq, [S.OUT_OF_MEMORY, S.COMPLETED, S.COMPLETED], attempt=3)])
    _, two = night([*base, *tasks_of(RUN_B.seq, [S.OUT_OF_MEMORY, S.FAILED, S.COMPLETED], attempt=3)])
    (a,), (b,) = judge(one, RULES).conditions, judge(two, RULES).conditions
    assert a.key == b.key and a.summary != b.summary


def runs(*rows: tuple[int, str, int]) -> list[Run]:
    start = dt.datetime(2020, 1, 27, 21, 0, tzinfo=dt.UTC)
    return [
        Run(run, 3, RunType(kind), start + dt.timedelta(minutes=minute), kind) for run, kind, minute in rows
    ]


def test_a_run_ends_when_the_next_starts_the_last_when_the_night_file_last_changed() -> None:
    changed = dt.datetime(2020, 1, 27, 23, 0, tzinfo=dt.UTC)
    ends = run_ends(runs((1874, "DATA", 10), (1872, "DRS4", 0), (1875, "DATA", 20)), changed)
    assert ends == {
        1872: dt.datetime(2020, 1, 27, 21, 10, tzinfo=dt.UTC),
        1874: dt.datetime(2020, 1, 27, 21, 20, tzinfo=dt.UTC),
        1875: changed,
    }


def test_only_runs_whose_raw_files_are_all_there_may_go(tmp_path: Path) -> None:
    layout = NightLayout(Config(paths=PathsConfig(raw=tmp_path)), dt.date(2020, 1, 27))
    layout.raw_dir.mkdir()
    for run, subrun in [(1872, 0), (1873, 0), (1874, 0), (1874, 1), (1874, 2), (1874, 3), (1875, 0)]:
        layout.raw_file(run, subrun).write_bytes(b"")
    ends = {1872: NOW, 1873: NOW, 1874: NOW, 1875: NOW - dt.timedelta(hours=1)}
    check = check_raw(layout, [CAL, RUN_A, RUN_B], ends, NOW, dt.timedelta(minutes=30))
    assert check.ready == {CAL.seq, RUN_A.seq}
    (waiting,) = check.waiting
    assert (
        waiting.line()
        == "run 01875: late for 2 of 3 raw files (first missing: LST-1.1.Run01875.0001.fits.fz)"
    )
    assert [c.key for c in check.conditions] == ["raw_files_missing:run=1875"]
    # within the grace period a missing file is only awaited
    recent = check_raw(layout, [RUN_B], {1875: NOW}, NOW, dt.timedelta(minutes=30))
    assert recent.conditions == () and not recent.waiting[0].late


def test_reprocess_nices_every_sbatch_and_keeps_the_other_options(tmp_path: Path) -> None:
    from osa_core.autopilot.reprocess import niced
    from osa_core.model.config import config_from_dict

    config = config_from_dict(
        {"scheduler": {"extra_sbatch_args": ["--qos=short", "--nice=5"]}}, tmp_path, source="t.toml"
    )
    assert niced(config, 1000).scheduler.extra_sbatch_args == ["--qos=short", "--nice=1000"]
    assert config.scheduler.extra_sbatch_args == ["--qos=short", "--nice=5"]
