"""What an action would do, decided before it is done: pure functions of the engine's state.

The console's confirmations and ``--dry-run`` show these previews; the engine then carries
out exactly them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from osa_core.model.actions import ActionPreview, PlannedSubmission, Refusal, Selection
from osa_core.model.config import SchedulerConfig
from osa_core.model.records import Sequence
from osa_core.model.resources import memory_mb, scale_memory, scale_walltime, walltime_seconds
from osa_core.model.snapshot import NightSnapshot, SubrunKey
from osa_core.model.states import JobState
from osa_core.track.ledger import SubmissionRow
from osa_core.track.tracking import NightState


def parent_dependency(state: NightState, sequence: Sequence) -> tuple[str, ...]:
    """afterok on the parent's job while it is still to run; nothing once it completed.

    A completed job may already have left slurmctld's memory, and sbatch then refuses the
    dependency: the ledger, not SLURM, knows it is done.
    """
    if sequence.parent is None:
        return ()
    task = state.latest((sequence.parent, 0))
    if task is None or task.state is JobState.COMPLETED:
        return ()
    return (task.job_id,)


def selected_keys(state: NightState, selection: Selection) -> list[SubrunKey]:
    """The union of what the selection names; nothing named: the whole night."""
    whole = selection.keys is None and selection.seqs is None and selection.runs is None
    keys: list[SubrunKey] = []
    for sequence in state.sequences:
        named = whole or bool(
            (selection.seqs and sequence.seq in selection.seqs)
            or (selection.runs and sequence.run in selection.runs)
        )
        for key in state.keys(sequence.seq):
            if named or (selection.keys is not None and key in selection.keys):
                keys.append(key)
    return keys


def resubmit_preview(
    state: NightState,
    snapshot: NightSnapshot,
    sched: SchedulerConfig,
    submissions: Iterable[SubmissionRow],
    selection: Selection,
) -> ActionPreview:
    """One new array per sequence with only the chosen indices, each a new attempt."""
    chosen: dict[int, list[tuple[int, int, JobState]]] = defaultdict(list)
    refused: list[Refusal] = []
    for key in selected_keys(state, selection):
        status = snapshot.subrun(key)
        current = status.state
        if selection.failed_only and not current.failed:
            continue
        why = None
        if current.active:
            why = f"is {current.value}" + (
                ": resubmit its calibration" if current is JobState.BLOCKED else ": cancel it first"
            )
        elif current is JobState.NOT_SUBMITTED:
            why = "was never submitted: run submit"
        elif current is JobState.COMPLETED and not selection.force:
            why = "is COMPLETED (use --force to run it again)"
        elif status.attempt >= sched.max_tries and not selection.force:
            why = f"has had {status.attempt} tries (max_tries {sched.max_tries}; use --force)"
        if why:
            refused.append(Refusal(key, status.run, why))
            continue
        chosen[key[0]].append((key[1], status.attempt + 1, current))
    jobs = {s.job_id: s for s in submissions if s.job_id}
    planned = []
    # calibrations first: a data rerun planned with its calibration's rerun waits for that job
    order = sorted(chosen, key=lambda s: (not state.sequence(s).is_calibration, s))
    for seq in order:
        items = chosen[seq]
        sequence = state.sequence(seq)
        rerun_parent = sequence.parent if sequence.parent in chosen else None
        if rerun_parent is None and not sequence.is_calibration and state.calibration_failed(sequence.parent):
            for subrun, _, _ in items:
                why = f"its calibration seq {sequence.parent} failed"
                refused.append(Refusal((seq, subrun), sequence.run, why))
            continue
        memory, walltime = raised_resources(state, sched, sequence, items, jobs, selection.more_memory)
        planned.append(
            PlannedSubmission(
                seq=seq,
                run=sequence.run,
                indices=tuple(i for i, _, _ in items),
                attempts=tuple(a for _, a, _ in items),
                memory=memory,
                walltime=walltime,
                after_ok=() if rerun_parent is not None else parent_dependency(state, sequence),
                after_seq=rerun_parent,
                exclude=tuple(sorted(selection.exclude_nodes)),
            )
        )
    return ActionPreview("resubmit", tuple(planned), (), tuple(refused))


def raised_resources(
    state: NightState,
    sched: SchedulerConfig,
    sequence: Sequence,
    items: list[tuple[int, int, JobState]],
    jobs: dict[str, SubmissionRow],
    more_memory: bool = False,
) -> tuple[str | None, str | None]:
    """Out of memory raises memory, a timeout raises wall time, from each subrun's last request;
    ``more_memory`` (the shifter asked) raises memory whatever the failure.

    One array has one request: the largest any of its subruns needs, so that no subrun runs
    again with the memory (or time) it already ran out of.
    """
    memory: str | None = None
    walltime: str | None = None
    for subrun, _, current in items:
        task = state.latest((sequence.seq, subrun))
        last = jobs.get(task.job_id) if task else None
        if current is JobState.OUT_OF_MEMORY or more_memory:
            raised = scale_memory((last.memory if last else None) or sched.memory, sched.oom_memory_factor)
            if memory is None or memory_mb(raised) > memory_mb(memory):
                memory = raised
        if current is JobState.TIMEOUT:
            base = (last.walltime if last else None) or sched.walltime
            longer = scale_walltime(base, sched.timeout_walltime_factor)
            if walltime is None or walltime_seconds(longer) > walltime_seconds(walltime):
                walltime = longer
    return memory, walltime


def cancel_preview(state: NightState, selection: Selection) -> ActionPreview:
    """Per job, the indices still pending or running (None: the whole single job)."""
    by_job: dict[str, list[int | None]] = defaultdict(list)
    for key in selected_keys(state, selection):
        task = state.latest(key)
        if task is not None and task.state.active:
            by_job[task.job_id].append(task.array_index)
    cancels: list[tuple[str, tuple[int, ...] | None]] = []
    for job_id, indices in sorted(by_job.items()):
        if any(i is None for i in indices):
            cancels.append((job_id, None))
        else:
            cancels.append((job_id, tuple(sorted(i for i in indices if i is not None))))
    return ActionPreview("cancel", (), tuple(cancels), ())
