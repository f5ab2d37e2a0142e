"""The kill campaign on the real SLURM: SIGKILL at every point of every mutation, then the next command.

Each scenario kills ``osa-core`` at one point of ``submit``, ``resubmit`` (of data, of a
calibration with its re-arm) or ``cancel`` with ``OSA_FAULT_KILL_AT`` (a real SIGKILL; only its
timing is chosen), runs the next command as cron or the shifter would, and counts the night's
jobs in SLURM's own accounting (sacct and squeue, by name and array index): exactly one job per
attempt made, none lost, and the ledger names the newest of each. The closing's points are
killed in ``tests/integration/test_close.py`` (also on SLURM, also counting the scheduler's
merge jobs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from campaign import CALIBRATION, DATA, SUBRUNS, CampaignNight, finished
from slurm_accounting import Task

pytestmark = pytest.mark.slurm

POINTS = ("submission-intent", "submission-sent", "submission-recorded")
Nights = Callable[..., CampaignNight]


@pytest.fixture
def nights(tmp_path: Path, slurm_cluster: str) -> Iterator[Nights]:
    made: list[CampaignNight] = []

    def make(name: str, extra: dict[str, object] | None = None) -> CampaignNight:
        night = CampaignNight(tmp_path / name, slurm_cluster, extra)
        made.append(night)
        return night

    yield make
    for night in made:
        night.stop()


# --- submit -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("nth", [1, 2], ids=["calibration", "first-data-array"])
@pytest.mark.parametrize("point", POINTS)
def test_submit_killed_then_submitted_again_leaves_one_job_per_task(
    nights: Nights, point: str, nth: int
) -> None:
    night = nights("night")
    night.killed("submit", kill_at=f"{point}:{nth}")
    again = night.cli("submit")
    assert "submitted" in again.stdout or "nothing to submit" in again.stdout
    night.assert_no_duplicates()
    assert "nothing to submit" in night.cli("submit").stdout


def test_a_data_array_cut_off_while_its_calibration_runs_is_found_not_submitted_again(
    nights: Nights,
) -> None:
    """The data array's sbatch ran, the ledger never heard back, and the calibration it waits
    on (afterok) still runs: sacct by name does not list a job that is not eligible, so the
    next submit's recovery used to wait its 30 s, call the array lost and submit it again. The
    calibration's first step takes 45 s here, longer than that wait."""
    night = nights("night", {"pipeline": {"simulate": {"step_seconds": {"drs4_baseline": 45}}}})
    night.killed("submit", kill_at="submission-sent:2")
    night.cli("submit")
    night.assert_no_duplicates()
    calibration = night.status()["sequences"][0]["counts"]
    assert calibration in ({"PENDING": 1}, {"RUNNING": 1}), "the case: the calibration has not ended"


# --- resubmit of data subruns: one night, one failed subrun per point --------------------------------

RESUBMITS = [
    # (kill point, what is resubmitted); submission-sent:2 cuts the second of two arrays
    ("submission-intent:1", ["--run", "3003", "--subruns", "0"]),
    ("submission-sent:1", ["--run", "3003", "--subruns", "1"]),
    ("submission-recorded:1", ["--run", "3003", "--subruns", "2"]),
    ("submission-sent:2", ["--failed", "--run", "3004", "--run", "3005"]),
]
FAILED = [(3003, 0), (3003, 1), (3003, 2), (3004, 0), (3004, 1), (3005, 2)]


def test_resubmit_killed_at_every_point_never_runs_an_attempt_twice(nights: Nights) -> None:
    failures = [{"run": r, "subrun": s, "step": "dl1_to_dl2", "exit_code": 3} for r, s in FAILED]
    night = nights("night", {"pipeline": {"simulate": {"failures": failures}}})
    night.cli("submit")
    status = night.wait(finished)
    assert sorted(k for k, (state, _) in night.states(status).items() if state == "FAILED") == FAILED
    night.assert_no_duplicates()
    again: dict[Task, int] = {}
    for point, args in RESUBMITS:
        night.killed("resubmit", *args, kill_at=point)
        # the next command: the same resubmit, as the shifter or cron would run it again
        result = night.cli("resubmit", *args, check=False)
        assert result.returncode in (0, 8), result.stdout + result.stderr
        runs = [int(a) for a in args[args.index("--run") + 1 :: 2]]
        subruns = [int(args[-1])] if "--subruns" in args else None
        for run, subrun in FAILED:
            if run in runs and (subruns is None or subrun in subruns):
                again[night.task(run, subrun)] = 1
        night.assert_no_duplicates(again)
    status = night.wait(finished)
    assert {k: v for k, v in night.states(status).items() if k in FAILED} == {
        k: ("COMPLETED", 2) for k in FAILED
    }
    night.assert_no_duplicates(again)


# --- resubmit of a failed calibration: the new job, and the data re-armed on it ------------------------


@pytest.mark.parametrize(
    "point", ["submission-sent:1", "submission-recorded:1", "rearm-intent:1", "rearm-sent:1", "rearm-sent:2"]
)
def test_calibration_resubmit_killed_rearms_the_data_once(nights: Nights, point: str) -> None:
    failures = [{"run": CALIBRATION, "step": "charge_calibration", "exit_code": 4}]
    night = nights("night", {"pipeline": {"simulate": {"failures": failures}}})
    night.cli("submit")
    night.wait(
        lambda s: (
            s["sequences"][0]["state"] == "FAILED"
            and all(q["state"] == "BLOCKED" for q in s["sequences"][1:])
        )
    )
    night.killed("resubmit", "--run", str(CALIBRATION), kill_at=point)
    result = night.cli("resubmit", "--run", str(CALIBRATION), check=False)
    assert result.returncode in (0, 8), result.stdout + result.stderr
    # every data subrun runs, on the new calibration job: the data were re-armed, not resubmitted
    status = night.wait(finished, timeout=180)
    states = night.states(status)
    assert states.pop((CALIBRATION, 0)) == ("COMPLETED", 2)
    assert set(states.values()) == {("COMPLETED", 1)}
    night.assert_no_duplicates({night.task(CALIBRATION, None): 1})


# --- cancel ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("point", ["cancel-intent:1", "cancel-sent:1", "cancel-sent:3"])
def test_cancel_killed_is_finished_by_the_next_mutation(nights: Nights, point: str) -> None:
    night = nights("night", {"pipeline": {"simulate": {"default_seconds": 60.0}}})
    night.cli("submit")
    night.killed("cancel", kill_at=point)
    # the next command is a submit from cron: it finishes the cancel before it looks for work
    assert "nothing to submit" in night.cli("submit").stdout
    status = night.wait(finished, timeout=90)
    assert {state for state, _ in night.states(status).values()} == {"CANCELLED"}
    assert night.queued() == []
    night.assert_one_job_per_sequence()  # cancelled before they started, arrays have no index in sacct


def test_campaign_covers_every_point_of_every_scheduler_mutation() -> None:
    """A point added to the code without a scenario here is a kill never tried."""
    from osa_core.model.faults import POINTS as ALL

    tried = {p for p in POINTS} | {p.split(":")[0] for p, _ in RESUBMITS}
    tried |= {"rearm-intent", "rearm-sent", "cancel-intent", "cancel-sent"}
    closing = {"merge-submitted", "merged", "verified", "moved-file", "moved", "datacheck", "cleaned-file"}
    closing |= {"flag", "merge-partial"}  # tried in tests/integration/test_close.py
    closing |= {"alert-claimed", "alert-sent"}  # tried in tests/integration/test_alerts.py
    closing |= {"night-checks-submitted"}  # tried in tests/integration/test_night_checks.py
    from test_kill_push import POINTS as PUSH

    tried |= {p.split(":")[0] for p in PUSH}
    assert tried | closing == set(ALL)
    assert len(DATA) * SUBRUNS >= len(FAILED)
