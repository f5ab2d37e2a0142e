"""Resubmission and cancellation previews, from a tracked night alone: what would run, what not, why.

The night: a calibration (seq 0, run 1873, single job) and two data arrays hanging on it, run 1874
(seq 1, 4 subruns) and run 1875 (seq 2, 3 subruns). Job ids read ``<attempt><seq:03d>``.
"""

from __future__ import annotations

from support.night_state import CAL, RUN_A, RUN_B, night, submission, task, tasks_of

from osa_core.model.actions import PlannedSubmission, Refusal, Selection
from osa_core.model.config import SchedulerConfig
from osa_core.model.states import JobState
from osa_core.track.ledger import TaskRow
from osa_core.track.previews import cancel_preview, parent_dependency, resubmit_preview, selected_keys

C, F, R, P = JobState.COMPLETED, JobState.FAILED, JobState.RUNNING, JobState.PENDING
OOM, TIMEOUT = JobState.OUT_OF_MEMORY, JobState.TIMEOUT
SCHED = SchedulerConfig(memory="4G", walltime="02:00:00", max_tries=3)


def mixed_night() -> list[TaskRow]:
    """Calibration done; run 1874: done, failed, running, never submitted; run 1875: OOM, timeout,
    and a subrun that failed its third try."""
    return [
        task(0, 0, C),
        task(1, 0, C),
        task(1, 1, F),
        task(1, 2, R),
        task(2, 0, OOM),
        task(2, 1, TIMEOUT),
        task(2, 2, F, 1),
        task(2, 2, F, 2),
        task(2, 2, F, 3),
    ]


SUBMISSIONS = [submission(1, 1), submission(2, 1, memory="6G", walltime="01:00:00")]


# --- which subruns a selection names ---------------------------------------------------------------


def test_nothing_named_is_the_whole_night_in_sequence_order() -> None:
    state, _ = night([])
    assert selected_keys(state, Selection()) == [
        (0, 0),
        (1, 0),
        (1, 1),
        (1, 2),
        (1, 3),
        (2, 0),
        (2, 1),
        (2, 2),
    ]


def test_a_selection_is_the_union_of_sequences_runs_and_subruns() -> None:
    state, _ = night([])
    assert selected_keys(state, Selection(seqs=frozenset({2}))) == [(2, 0), (2, 1), (2, 2)]
    assert selected_keys(state, Selection(runs=frozenset({1874}))) == [(1, 0), (1, 1), (1, 2), (1, 3)]
    assert selected_keys(state, Selection(keys=frozenset({(2, 1), (1, 3)}))) == [(1, 3), (2, 1)]
    union = Selection(runs=frozenset({1873}), keys=frozenset({(2, 2)}))
    assert selected_keys(state, union) == [(0, 0), (2, 2)]


def test_an_empty_selection_names_nothing() -> None:
    state, _ = night([])
    assert selected_keys(state, Selection(keys=frozenset())) == []
    assert selected_keys(state, Selection(runs=frozenset({9999}))) == []


# --- the dependency on the calibration ------------------------------------------------------------------


def test_dependency_on_a_calibration_still_to_run() -> None:
    for cal_state in (P, R):
        state, _ = night([task(0, 0, cal_state)])
        assert parent_dependency(state, RUN_A) == ("1000",)


def test_no_dependency_on_a_completed_calibration() -> None:
    # sbatch refuses afterok on a job slurmctld has forgotten: the ledger says it is done
    state, _ = night([task(0, 0, C)])
    assert parent_dependency(state, RUN_A) == ()


def test_a_failed_calibration_is_still_depended_on() -> None:
    # data submitted after it must wait (and show BLOCKED), never run without its calibration
    state, _ = night([task(0, 0, F)])
    assert parent_dependency(state, RUN_A) == ("1000",)


def test_the_dependency_is_on_the_calibrations_latest_attempt() -> None:
    state, _ = night([task(0, 0, F), task(0, 0, P, 2)])
    assert parent_dependency(state, RUN_B) == ("2000",)


def test_no_dependency_for_the_calibration_itself_or_an_unsubmitted_parent() -> None:
    state, _ = night([])
    assert parent_dependency(state, CAL) == ()
    assert parent_dependency(state, RUN_A) == ()


# --- resubmission ----------------------------------------------------------------------------------------


def test_resubmitting_the_night_chooses_the_failed_and_refuses_the_rest_with_reasons() -> None:
    state, snapshot = night(mixed_night())
    preview = resubmit_preview(state, snapshot, SCHED, SUBMISSIONS, Selection())
    assert preview.action == "resubmit"
    assert preview.submissions == (
        PlannedSubmission(seq=1, run=1874, indices=(1,), attempts=(2,)),
        PlannedSubmission(
            seq=2, run=1875, indices=(0, 1), attempts=(2, 2), memory="9216M", walltime="01:30:00"
        ),
    )
    assert preview.refused == (
        Refusal((0, 0), 1873, "is COMPLETED (use --force to run it again)"),
        Refusal((1, 0), 1874, "is COMPLETED (use --force to run it again)"),
        Refusal((1, 2), 1874, "is RUNNING: cancel it first"),
        Refusal((1, 3), 1874, "was never submitted: run submit"),
        Refusal((2, 2), 1875, "has had 3 tries (max_tries 3; use --force)"),
    )
    assert preview.cancels == ()
    # what the confirmation shows the shifter
    assert preview.lines()[1] == (
        "run 01875 (seq 2): --array=0,1 (2 subruns, attempt 2, memory 9216M, wall time 01:30:00)"
    )


def test_force_reruns_completed_and_exhausted_subruns_but_never_active_or_unsubmitted_ones() -> None:
    state, snapshot = night(mixed_night())
    preview = resubmit_preview(state, snapshot, SCHED, SUBMISSIONS, Selection(force=True))
    assert [(s.seq, s.indices, s.attempts) for s in preview.submissions] == [
        (0, (0,), (2,)),
        (1, (0, 1), (2, 2)),
        (2, (0, 1, 2), (2, 2, 4)),
    ]
    assert [(r.key, r.reason) for r in preview.refused] == [
        ((1, 2), "is RUNNING: cancel it first"),
        ((1, 3), "was never submitted: run submit"),
    ]


def test_failed_only_passes_over_what_did_not_fail_without_refusing_it() -> None:
    state, snapshot = night(mixed_night())
    preview = resubmit_preview(state, snapshot, SCHED, SUBMISSIONS, Selection(failed_only=True))
    assert [(s.seq, s.indices) for s in preview.submissions] == [(1, (1,)), (2, (0, 1))]
    assert [(r.key, r.reason) for r in preview.refused] == [
        ((2, 2), "has had 3 tries (max_tries 3; use --force)")
    ]


def test_max_tries_comes_from_the_configuration() -> None:
    state, snapshot = night([task(0, 0, C), task(1, 0, F), task(1, 0, F, 2)])
    sched = SchedulerConfig(max_tries=2)
    refused = resubmit_preview(state, snapshot, sched, [], Selection(keys=frozenset({(1, 0)}))).refused
    assert [r.reason for r in refused] == ["has had 2 tries (max_tries 2; use --force)"]
    roomy = resubmit_preview(state, snapshot, SCHED, [], Selection(keys=frozenset({(1, 0)})))
    assert roomy.submissions[0].attempts == (3,) and roomy.refused == ()


def test_without_a_submission_record_resources_are_raised_from_the_configured_ones() -> None:
    state, snapshot = night([task(0, 0, C), task(2, 0, OOM), task(2, 1, TIMEOUT)])
    sched = SchedulerConfig(
        memory="4G", walltime="02:00:00", oom_memory_factor=2.0, timeout_walltime_factor=1.5
    )
    (planned,) = resubmit_preview(state, snapshot, sched, [], Selection(seqs=frozenset({2}))).submissions
    assert (planned.memory, planned.walltime) == ("8192M", "03:00:00")


def test_a_plain_failure_keeps_the_configured_resources() -> None:
    state, snapshot = night([task(0, 0, C), task(1, 1, F)])
    (planned,) = resubmit_preview(
        state, snapshot, SCHED, SUBMISSIONS, Selection(failed_only=True)
    ).submissions
    assert (planned.memory, planned.walltime) == (None, None)


def test_the_shifter_asks_for_more_memory_and_another_node() -> None:
    """From a failure group: a plain failure gets the out-of-memory raise when asked, and every
    array of the resubmission avoids the named nodes, as the confirmation says."""
    state, snapshot = night([task(0, 0, C), task(1, 1, F), task(2, 0, OOM)])
    selection = Selection(failed_only=True, more_memory=True, exclude_nodes=frozenset({"cp23", "cp07"}))
    preview = resubmit_preview(state, snapshot, SCHED, SUBMISSIONS, selection)
    assert [(p.seq, p.memory, p.exclude) for p in preview.submissions] == [
        (1, "6144M", ("cp07", "cp23")),
        (2, "9216M", ("cp07", "cp23")),
    ]
    assert all(line.endswith("--exclude=cp07,cp23)") for line in preview.lines())
    expected = "failed subruns of the whole night, with more memory, not on node cp07, cp23"
    assert selection.describe() == expected


def test_one_array_per_sequence_each_depending_on_a_calibration_still_to_run() -> None:
    tasks = [task(0, 0, F), task(0, 0, R, 2), *tasks_of(1, [F, C, F, F]), *tasks_of(2, [F, F, C])]
    state, snapshot = night(tasks)
    preview = resubmit_preview(state, snapshot, SCHED, [], Selection(failed_only=True))
    assert [(s.seq, s.indices, s.after_ok) for s in preview.submissions] == [
        (1, (0, 2, 3), ("2000",)),
        (2, (0, 1), ("2000",)),
    ]


def test_a_failed_calibration_rerun_takes_its_failed_data_after_it() -> None:
    """Chosen with its calibration, a failed data subrun waits for the new calibration job; a
    blocked one is not resubmitted (the calibration's rerun re-arms it); alone it is refused."""
    tasks = [task(0, 0, F), task(1, 0, F), task(1, 1, P), task(2, 0, C)]
    state, snapshot = night(tasks)
    assert snapshot.subrun((1, 1)).state is JobState.BLOCKED
    preview = resubmit_preview(state, snapshot, SCHED, [], Selection(seqs=frozenset({0, 1})))
    assert [(s.seq, s.indices, s.attempts, s.after_ok, s.after_seq) for s in preview.submissions] == [
        (0, (0,), (2,), (), None),
        (1, (0,), (2,), (), 0),
    ]
    assert [(r.key, r.reason) for r in preview.refused] == [
        ((1, 1), "is BLOCKED: resubmit its calibration"),
        ((1, 2), "was never submitted: run submit"),
        ((1, 3), "was never submitted: run submit"),
    ]
    alone = resubmit_preview(state, snapshot, SCHED, [], Selection(seqs=frozenset({1})))
    assert ((1, 0), "its calibration seq 0 failed") in [(r.key, r.reason) for r in alone.refused]


def test_memory_of_one_array_covers_the_subrun_that_asked_for_the_most() -> None:
    """Subrun 0 already ran out of memory at 6G on its second try; subrun 1 ran out at 4G on its
    first. One array has one ``--mem``: it must be raised from the larger request (9G), or subrun 0
    runs again with the 6G it already died with."""
    tasks = [task(0, 0, C), task(1, 0, OOM), task(1, 0, OOM, 2), task(1, 1, OOM)]
    submissions = [submission(1, 1, memory="4G"), submission(1, 2, memory="6G")]
    state, snapshot = night(tasks)
    (planned,) = resubmit_preview(
        state, snapshot, SCHED, submissions, Selection(seqs=frozenset({1}))
    ).submissions
    assert planned.indices == (0, 1)
    assert planned.memory == "9216M"


# --- cancellation ------------------------------------------------------------------------------------------


def test_cancel_names_per_job_the_indices_still_pending_or_running() -> None:
    tasks = [
        task(0, 0, R),  # the calibration: a single job
        *tasks_of(1, [C, R, P, F]),
        task(2, 0, F),
        task(2, 0, P, 2, job="555"),  # the resubmitted subrun waits in a job of its own
        task(2, 1, C),
    ]
    state, _ = night(tasks)
    preview = cancel_preview(state, Selection())
    assert preview.cancels == (("1000", None), ("1001", (1, 2)), ("555", (0,)))
    assert preview.submissions == () and preview.refused == ()
    assert preview.lines() == [
        "cancel job 1000: whole job",
        "cancel job 1001: indices 1,2",
        "cancel job 555: indices 0",
    ]


def test_cancel_stays_inside_the_selection_and_is_empty_when_nothing_is_active() -> None:
    tasks = [task(0, 0, R), *tasks_of(1, [R, P]), *tasks_of(2, [C, F, C])]
    state, _ = night(tasks)
    assert cancel_preview(state, Selection(runs=frozenset({1874}))).cancels == (("1001", (0, 1)),)
    assert cancel_preview(state, Selection(keys=frozenset({(1, 1)}))).cancels == (("1001", (1,)),)
    quiet = cancel_preview(state, Selection(seqs=frozenset({2})))
    assert quiet.cancels == () and quiet.empty


def test_data_rerun_with_its_calibration_waits_for_it() -> None:
    """``resubmit --force`` over a completed night reruns the calibration and the data arrays in one
    action. The calibration's latest task is COMPLETED, so without care the data arrays would be
    planned free and start while the calibration files are being rewritten: each must wait for
    the calibration job this same action submits (the engine fills in its id)."""
    state, snapshot = night([task(0, 0, C), *tasks_of(1, [C, C, C, C]), *tasks_of(2, [C, C, C])])
    preview = resubmit_preview(state, snapshot, SCHED, [], Selection(force=True))
    assert preview.submissions[0].seq == CAL.seq
    data = preview.submissions[1:]
    assert {s.seq for s in data} == {RUN_A.seq, RUN_B.seq}
    assert all(s.after_seq == CAL.seq for s in data)
    assert all(f"after the new job of seq {CAL.seq}" in line for line in preview.lines()[1:3])
