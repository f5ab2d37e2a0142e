"""The closing decision and the closing's words, from a tracked night and closing rows alone.

The night: a calibration (seq 0, run 1873) and two data arrays on it, run 1874 (seq 1, 4 subruns)
and run 1875 (seq 2, 3 subruns); see ``support/night_state.py``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.night_state import NIGHT, night, task, tasks_of

from osa_core.close.closing_plan import (
    SHOWN,
    closed_text,
    decide,
    describe,
    progress_text,
    summary,
)
from osa_core.engine import Engine
from osa_core.model.closestate import ClosingDatacheck, ClosingRecord, ClosingRun, RunClose, VerifiedProduct
from osa_core.model.config import Config, NightConfig, PathsConfig
from osa_core.model.records import Sequence
from osa_core.model.states import JobState, SequenceType

C, F, R, P = JobState.COMPLETED, JobState.FAILED, JobState.RUNNING, JobState.PENDING
REFUSED_INCOMPLETE = (
    "the night is not complete ({n} sequence(s) not finished); nothing was done. "
    "Resubmit or wait, or `close --force` to close the complete runs"
)
BLOCKED_REASON = "blocked: its calibration (seq 0) failed; resubmit the calibration"


# --- decide ----------------------------------------------------------------------------------------------


def test_a_complete_night_includes_every_data_run() -> None:
    _, snapshot = night([task(0, 0, C), *tasks_of(1, [C] * 4), *tasks_of(2, [C] * 3)])
    decision = decide(snapshot, force=False)
    assert decision.included == (
        ClosingRun(1874, 1, 4, RunClose.PENDING),
        ClosingRun(1875, 2, 3, RunClose.PENDING),
    )
    assert (decision.excluded, decision.missing, decision.refusal) == ((), (), None)


def test_an_incomplete_night_is_refused_naming_each_sequence_its_subruns_and_their_states() -> None:
    tasks = [
        task(0, 0, C),
        *tasks_of(1, [C, C, C, C]),
        task(2, 0, F, exit_code=3),
        task(2, 1, R),
        task(2, 2, C),
    ]
    _, snapshot = night(tasks)
    decision = decide(snapshot, force=False)
    assert decision.refusal == REFUSED_INCOMPLETE.format(n=1)
    assert decision.missing == (
        "run 01875 (seq 2): 2 of 3 not completed [1 FAILED, 1 RUNNING]: "
        "0000 FAILED (exit code 3); 0001 RUNNING",
    )


def test_a_sequence_never_submitted_is_named_as_such() -> None:
    _, snapshot = night([task(0, 0, C), *tasks_of(1, [C] * 4)])
    decision = decide(snapshot, force=False)
    assert decision.missing == ("run 01875 (seq 2): never submitted",)
    assert decision.refusal == REFUSED_INCOMPLETE.format(n=1)


def test_a_refusal_names_at_most_SHOWN_subruns_and_counts_the_rest() -> None:
    big = Sequence(1, SequenceType.DATA, 1874, SHOWN + 4, 0)
    cal = Sequence(0, SequenceType.CALIBRATION, 1873, 1, None, 1872)
    _, snapshot = night([task(0, 0, C), *tasks_of(1, [F] * (SHOWN + 4))], sequences=[cal, big])
    (line,) = decide(snapshot, force=False).missing
    shown = "; ".join(f"{i:04d} FAILED (exit code 1)" for i in range(SHOWN))
    assert line == f"run 01874 (seq 1): 12 of 12 not completed [12 FAILED]: {shown}, and 4 more"


def test_a_long_or_multiline_reason_is_cut_to_its_first_line_and_80_characters() -> None:
    long = "x" * 100 + "\nsecond line"
    _, snapshot = night(
        [task(0, 0, C), *tasks_of(1, [C] * 4), task(2, 0, F, reason=long), *tasks_of(2, [C] * 3)[1:]]
    )
    (line,) = decide(snapshot, force=False).missing
    assert line == f"run 01875 (seq 2): 1 of 3 not completed [1 FAILED]: 0000 FAILED ({'x' * 80})"


def test_force_closes_the_complete_runs_and_excludes_the_others_with_reasons() -> None:
    tasks = [task(0, 0, C), *tasks_of(1, [C] * 4), *tasks_of(2, [F, R, F])]
    _, snapshot = night(tasks)
    decision = decide(snapshot, force=True)
    assert decision.refusal is None
    assert decision.included == (ClosingRun(1874, 1, 4, RunClose.PENDING),)
    assert decision.excluded == (
        ClosingRun(
            1875, 2, 3, RunClose.EXCLUDED, reason="3 of 3 subruns not completed (2 FAILED, 1 RUNNING)"
        ),
    )
    assert len(decision.missing) == 1 and decision.missing[0].startswith("run 01875 (seq 2): 3 of 3")


def test_nothing_submitted_is_refused_even_with_force() -> None:
    _, snapshot = night([])
    for force in (False, True):
        decision = decide(snapshot, force=force)
        assert (
            decision.refusal
            == "nothing to close: no run of this night was submitted (submit the night first)"
        )
        assert decision.missing == ()


def test_a_failed_calibration_is_named_and_blocks_every_run_it_calibrates() -> None:
    _, snapshot = night([task(0, 0, F, exit_code=2), *tasks_of(1, [P] * 4), *tasks_of(2, [P] * 3)])
    decision = decide(snapshot, force=False)
    assert decision.refusal == REFUSED_INCOMPLETE.format(n=3)
    assert decision.missing[0] == (
        "calibration run 01873 (seq 0): 1 of 1 not completed [1 FAILED]: 0000 FAILED (exit code 2)"
    )
    assert decision.missing[1] == (
        "run 01874 (seq 1): 4 of 4 not completed [4 BLOCKED]: "
        + "; ".join(f"{i:04d} BLOCKED ({BLOCKED_REASON})" for i in range(4))
    )
    forced = decide(snapshot, force=True)
    assert forced.refusal == "nothing to close: no data run is complete"
    assert [(r.run, r.reason) for r in forced.excluded] == [
        (1874, "4 of 4 subruns not completed (4 BLOCKED)"),
        (1875, "3 of 3 subruns not completed (3 BLOCKED)"),
    ]


def test_a_calibration_is_never_a_closing_run_and_its_latest_attempt_counts() -> None:
    _, snapshot = night([task(0, 0, F), task(0, 0, C, 2), *tasks_of(1, [C] * 4), *tasks_of(2, [C] * 3)])
    decision = decide(snapshot, force=False)
    assert [r.run for r in decision.included] == [1874, 1875]
    assert (decision.missing, decision.refusal) == ((), None)


def test_a_calibration_still_running_needs_force_even_when_the_data_is_complete() -> None:
    _, snapshot = night([task(0, 0, C), task(0, 0, R, 2), *tasks_of(1, [C] * 4), *tasks_of(2, [C] * 3)])
    missing = ("calibration run 01873 (seq 0): 1 of 1 not completed [1 RUNNING]: 0000 RUNNING",)
    refused = decide(snapshot, force=False)
    assert (refused.missing, refused.refusal) == (missing, REFUSED_INCOMPLETE.format(n=1))
    forced = decide(snapshot, force=True)
    assert (forced.refusal, forced.excluded, [r.run for r in forced.included]) == (None, (), [1874, 1875])


# --- the closing's words -------------------------------------------------------------------------------


def run(number: int, state: RunClose, job_id: str | None = None, reason: str = "") -> ClosingRun:
    return ClosingRun(number, number - 1873, 3, state, job_id=job_id, reason=reason)


def test_progress_counts_moved_and_cleaned_runs_as_merged() -> None:
    runs = [
        run(1874, RunClose.PENDING),
        run(1875, RunClose.MERGING),
        run(1876, RunClose.MOVED),
        run(1877, RunClose.CLEANED),
    ]
    assert progress_text(runs) == "merging 2/4 runs"


def test_progress_names_failed_and_excluded_runs() -> None:
    runs = [
        run(1874, RunClose.CLEANED),
        run(1875, RunClose.FAILED),
        run(1876, RunClose.VERIFIED),
        run(1877, RunClose.EXCLUDED),
    ]
    assert progress_text(runs) == "merging 1/3 runs, 1 failed, 1 excluded"


def test_progress_once_every_merge_is_over() -> None:
    runs = [run(1874, RunClose.CLEANED), run(1875, RunClose.FAILED), run(1876, RunClose.EXCLUDED)]
    assert progress_text(runs) == "finishing: 1/2 runs merged, datacheck and flag next, 1 failed, 1 excluded"
    assert progress_text(runs[:1]) == "finishing: 1/1 runs merged, datacheck and flag next"


FINISHED = dt.datetime(2020, 1, 28, 7, 10, 42, tzinfo=dt.UTC)
RECORD = ClosingRecord(1, dt.datetime(2020, 1, 28, 6, 55, 3, tzinfo=dt.UTC), True, FINISHED, "")


def test_closed_text_counts_merged_failed_and_excluded_runs() -> None:
    runs = [
        run(1874, RunClose.CLEANED),
        run(1875, RunClose.CLEANED),
        run(1876, RunClose.FAILED),
        run(1877, RunClose.EXCLUDED),
    ]
    assert closed_text(RECORD, runs) == "closed 2020-01-28 07:10 UTC: 2 run(s) merged, 1 failed, 1 excluded"
    assert closed_text(RECORD, runs[:2]) == "closed 2020-01-28 07:10 UTC: 2 run(s) merged"


def test_describe_shows_the_merge_job_only_while_it_runs() -> None:
    assert describe(run(1874, RunClose.MERGING, job_id="4242")) == "run 01874: merging (job 4242)"
    assert describe(run(1874, RunClose.SUBMITTING, job_id="4242")) == "run 01874: submitting (job 4242)"
    assert describe(run(1874, RunClose.CLEANED, job_id="4242")) == "run 01874: cleaned"
    failed = run(1875, RunClose.FAILED, job_id="4243", reason="merge job 4243 FAILED twice")
    assert describe(failed) == "run 01875: failed: merge job 4243 FAILED twice"


# --- the night-finished flag ------------------------------------------------------------------------------


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A real engine (local backend, nothing submitted) on a throw-away tree: the flag's host."""
    paths = PathsConfig(
        raw=tmp_path / "raw",
        analysis=tmp_path / "analysis",
        final=tmp_path / "final",
        logs=tmp_path / "logs",
        state=tmp_path / "state",
    )
    host = Engine(Config(paths=paths, night=NightConfig(prod_id="v9.9")), NIGHT)
    try:
        yield host
    finally:
        host.shutdown()


def test_summary_is_the_flags_content(engine: Engine, tmp_path: Path) -> None:
    dl1 = VerifiedProduct("dl1", "dl1_LST-1.Run01874.h5", "DL1", 2048, 5120)
    pdf = VerifiedProduct("datacheck_pdf", "datacheck_dl1_LST-1.Run01874.pdf", "datacheck", 99, None)
    runs = [
        ClosingRun(1874, 1, 4, RunClose.CLEANED, 1, "77", ("77",), reason="removed", products=(dl1, pdf)),
        ClosingRun(1875, 2, 3, RunClose.FAILED, 2, "79", ("78", "79"), reason="merge failed twice"),
        ClosingRun(1876, 3, 2, RunClose.EXCLUDED, reason="1 of 2 subruns not completed (1 FAILED)"),
    ]
    final = tmp_path / "final"
    drs4 = str(final / "calibration/20200127/v9.9/drs4_pedestal.Run01872.0000.h5")
    calibration: list[dict[str, object]] = [{"run": 1873, "drs4_run": 1872, "files": [drs4]}]
    datacheck = ClosingDatacheck(dir="/web/20200127", files=12).for_flag()
    flag = summary(engine, RECORD, runs, calibration, datacheck, "2020-01-28T07:10:42+00:00")
    assert flag == {
        "night": "20200127",
        "date": "2020-01-27",
        "prod_id": "v9.9",
        "profile": "simulate",
        "simulation": True,
        "forced": True,
        "started": "2020-01-28T06:55:03+00:00",
        "closed": "2020-01-28T07:10:42+00:00",
        "processed": [
            {
                "run": 1874,
                "seq": 1,
                "subruns": 4,
                "merge_jobs": ["77"],
                "subrun_files": "removed",
                "products": [
                    {
                        "path": str(final / "DL1/20200127/v9.9/dl1_LST-1.Run01874.h5"),
                        "events": 5120,
                        "size": 2048,
                    },
                    {
                        "path": str(final / "datacheck/20200127/v9.9/datacheck_dl1_LST-1.Run01874.pdf"),
                        "events": None,
                        "size": 99,
                    },
                ],
            }
        ],
        "failed": [{"run": 1875, "seq": 2, "merge_jobs": ["78", "79"], "reason": "merge failed twice"}],
        "excluded": [{"run": 1876, "seq": 3, "reason": "1 of 2 subruns not completed (1 FAILED)"}],
        "calibration": [{"run": 1873, "drs4_run": 1872, "files": [drs4]}],
        "datacheck": {"dir": "/web/20200127", "files": 12},
    }
    assert json.loads(json.dumps(flag)) == flag  # the flag is written as JSON


def test_summary_leaves_runs_still_in_progress_out_of_every_list(engine: Engine) -> None:
    runs = [ClosingRun(1874, 1, 4, RunClose.MERGING, 1, "77", ("77",))]
    flag = summary(engine, RECORD, runs, [], {}, "now")
    assert (flag["processed"], flag["failed"], flag["excluded"]) == ([], [], [])
