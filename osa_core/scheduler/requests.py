"""The job request of one sequence's submission: names, logs, resources and attempts (pure).

The engine renders the script and keeps the intent; what the scheduler is asked is decided here
from the configuration and the layout alone, so every backend is asked the same thing.
"""

from __future__ import annotations

from pathlib import Path

from osa_core.model.config import Config
from osa_core.model.layout import NightLayout
from osa_core.model.records import Sequence
from osa_core.scheduler.base import JobRequest


def attempt_args(array: bool, indices: tuple[int, ...] | None, attempts: tuple[int, ...]) -> tuple[str, ...]:
    """``--attempt-map 3=2,17=2`` for the runner when any task is not a first attempt."""
    if all(a == 1 for a in attempts):
        return ()
    if array:
        assert indices is not None
        mapping = ",".join(f"{i}={a}" for i, a in zip(indices, attempts, strict=True))
    else:
        mapping = f"0={attempts[0]}"
    return ("--attempt-map", mapping)


def sequence_request(
    config: Config,
    layout: NightLayout,
    sequence: Sequence,
    script: Path,
    indices: tuple[int, ...] | None,
    attempts: tuple[int, ...],
    *,
    after_ok: tuple[str, ...] = (),
    memory: str | None = None,
    walltime: str | None = None,
    exclude: tuple[str, ...] = (),
) -> JobRequest:
    """A calibration is one job; a data sequence one array over ``indices``. Raised memory or
    wall time (after out-of-memory or a timeout) replace the configured ones; ``exclude`` names
    nodes the job must avoid."""
    sched = config.scheduler
    array = not sequence.is_calibration
    default_memory = sched.calibration_memory if sequence.is_calibration else sched.memory
    default_walltime = sched.calibration_walltime if sequence.is_calibration else sched.walltime
    return JobRequest(
        name=layout.job_name(sequence.run),
        script=str(script),
        workdir=str(layout.analysis_dir),
        stdout=layout.task_stdout_pattern(sequence.run, array),
        stderr=layout.task_stderr_pattern(sequence.run, array),
        array=indices if array else None,
        throttle=sched.array_throttle if array else 0,
        after_ok=after_ok,
        memory=memory or default_memory,
        walltime=walltime or default_walltime,
        partition=sched.partition,
        account=sched.account,
        comment=f"osa night {layout.night} seq {sequence.seq}",
        args=attempt_args(array, indices, attempts),
        extra=tuple(sched.extra_sbatch_args),
        exclude=exclude,
    )
