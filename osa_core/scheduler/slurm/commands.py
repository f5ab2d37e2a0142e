"""SLURM command lines, as pure functions (their answers are read by :mod:`.answers`).

Built for and checked against Slurm 22.05.8 (Debian 12). What that release really does:

- ``sacct`` accepts a ``Reason`` field, but for a pending job it is the reason the database was
  last told of: a job pending on ``afterok`` whose parent then failed keeps ``Dependency`` in
  sacct while ``squeue`` says ``DependencyNeverSatisfied``. On a started job it is the last reason
  it waited for. So the parsers keep a reason only for pending tasks, and the live reason of a
  pending job comes from ``squeue`` (:func:`squeue_argv`, :func:`parse_squeue_reasons`).
- With a time window (``--starttime``) and no ``--jobs``, sacct hides every pending job that is
  not *eligible*: one waiting on a dependency, a held one, and the not-yet-started rest of a
  throttled array (``123_[5-199%4]``). With ``--jobs`` it shows them. :func:`sacct_argv` takes the
  job ids when the caller knows them.
- sacct prints times in the ``TZ`` of its process and reads ``--starttime`` in it. The runner
  sets ``TZ=UTC``; :func:`parse_sacct` reads naive times as UTC and returns aware datetimes.
- A query by name alone (no ``--jobs``: looking for a job whose id was never heard, after a crash
  or to rebuild a ledger) cannot see those hidden jobs either, nor a job slurmdbd has not been
  told of yet (seconds, more when slurmctld is busy). ``squeue --name`` (:func:`squeue_named_argv`)
  lists both at once: their ids are then asked of sacct with ``--jobs``.
- A requeued job has one line per start with ``--duplicates``; without it, only the newest. The
  parser keeps the last line of a task either way.
- ``sacct --json`` (openapi dbv0.0.38) reports a task that exited 3 as ``FAILED`` with exit code
  ``SUCCESS``/0 (the text form says ``3:0``): its exit codes are not trusted for failed tasks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from osa_core.model.arrays import index_spec
from osa_core.model.errors import SchedulerError
from osa_core.scheduler.base import JobRequest

SACCT_FIELDS = (
    "JobID",
    "JobIDRaw",
    "JobName",
    "State",
    "ExitCode",
    "NodeList",
    "Submit",
    "Start",
    "End",
    "Reason",
    # What the task used and asked for (osa_core/scheduler/slurm/figures.py); MaxRSS is on the
    # step lines only, which is why the query leaves out -X.
    "MaxRSS",
    "TotalCPU",
    "ReqMem",
    "Timelimit",
)
SACCT_FORMAT = ",".join(SACCT_FIELDS)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
"""How sacct prints times, and how ``--starttime`` is given (UTC: the runner sets ``TZ=UTC``)."""


# --- command lines ------------------------------------------------------------------------------
def _no_comma(kind: str, values: Iterable[str]) -> list[str]:
    out = list(values)
    for value in out:
        if not value or "," in value:
            raise SchedulerError(f"{kind} {value!r} cannot be passed in a comma-separated list")
    return out


def sbatch_argv(request: JobRequest, *, partition: str | None = None, script: str | None = None) -> list[str]:
    """``sbatch --parsable`` for a request; ``script`` overrides ``request.script`` (e.g. /dev/stdin).

    Options are given as ``--opt=value`` so that no value can be read as another option.
    """
    argv = ["sbatch", "--parsable", f"--job-name={request.name}"]
    if request.comment:
        argv.append(f"--comment={request.comment}")
    if request.array is not None:
        spec = index_spec(request.array)
        if request.throttle > 0:
            spec += f"%{request.throttle}"
        argv.append(f"--array={spec}")
    if request.after_ok:
        ids = _no_comma("job id", request.after_ok)
        argv.append("--dependency=afterok:" + ":".join(ids))
    if request.memory:
        argv.append(f"--mem={request.memory}")
    if request.walltime:
        argv.append(f"--time={request.walltime}")
    chosen = request.partition or partition
    if chosen:
        argv.append(f"--partition={chosen}")
    if request.account:
        argv.append(f"--account={request.account}")
    if request.exclude:
        argv.append("--exclude=" + ",".join(_no_comma("node", request.exclude)))
    argv += [f"--output={request.stdout}", f"--error={request.stderr}", f"--chdir={request.workdir}"]
    argv += list(request.extra)
    path = script if script is not None else request.script
    # sbatch takes the first non-option word as the script: keep a relative "-x" from being an option.
    argv.append(f"./{path}" if path.startswith("-") else path)
    argv += list(request.args)
    return argv


def format_utc(when: dt.datetime) -> str:
    """A time as sacct reads it with ``TZ=UTC`` (naive times are taken as UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return when.strftime(TIME_FORMAT)


def sacct_argv(names: Sequence[str], since: dt.datetime, job_ids: Sequence[str] = ()) -> list[str]:
    """The one sacct call of a refresh: every task of these jobs submitted since ``since``.

    The explicit ``--starttime`` matters: sacct's default window starts at midnight and silently
    drops a night that crosses it. ``job_ids`` (when known) adds ``--jobs``, the only way sacct
    22.05 shows pending jobs that are not eligible yet (see the module docstring); it is ANDed
    with the names, so pass it only with the complete list of the night's job ids.
    """
    if not names:
        raise SchedulerError("sacct needs at least one job name")
    argv = [
        "sacct",
        "-P",
        "-n",
        f"--starttime={format_utc(since)}",
        "--endtime=now",
        "--name=" + ",".join(_no_comma("job name", names)),
    ]
    if job_ids:
        argv.append("--jobs=" + ",".join(_no_comma("job id", job_ids)))
    argv.append(f"--format={SACCT_FORMAT}")
    return argv


def squeue_argv(job_ids: Sequence[str]) -> list[str]:
    # Plain squeue: on 22.05 ``squeue --json`` ignores every filter and dumps the whole queue.
    return [
        "squeue",
        "--noheader",
        "--states=PENDING",
        "--format=%i|%r",
        "--jobs=" + ",".join(_no_comma("job id", job_ids)),
    ]


def squeue_pending_names_argv() -> list[str]:
    """The job name of every pending task of this user, one line per task (``--array``): the
    caller counts those of its own names (squeue's ``--name`` takes whole names only)."""
    return ["squeue", "--noheader", "--me", "--array", "--states=PENDING", "--format=%j"]


def scancel_argv(job_id: str, indices: Sequence[int] | None = None) -> list[str]:
    if indices is None:
        return ["scancel", job_id]
    return ["scancel", f"{job_id}_[{index_spec(indices)}]"]


def set_dependency_argv(job_id: str, after_ok: Sequence[str]) -> list[str]:
    # An empty dependency clears it. Note: 22.05 takes afterok on an unknown job id without
    # complaint and treats it as satisfied: the job then starts at once.
    dep = "afterok:" + ":".join(_no_comma("job id", after_ok)) if after_ok else ""
    return ["scontrol", "update", f"JobId={job_id}", f"Dependency={dep}"]


def hold_argv(job_id: str) -> list[str]:
    return ["scontrol", "hold", job_id]


def release_argv(job_id: str) -> list[str]:
    return ["scontrol", "release", job_id]


def squeue_named_argv(names: Sequence[str]) -> list[str]:
    """Every task slurmctld holds of jobs with these names, one line each (``--array``), whatever
    its state (finished ones for ``MinJobAge``): base job id, index (``N/A`` for a single job),
    name, state, submit time, reason."""
    return [
        "squeue",
        "--noheader",
        "--array",
        "--states=all",
        "--format=%F|%K|%j|%T|%V|%r",
        "--name=" + ",".join(_no_comma("job name", names)),
    ]


def squeue_tasks_argv(job_ids: Sequence[str]) -> list[str]:
    """Every live task of these jobs, one line each (``--array``), whatever its state."""
    return [
        "squeue",
        "--noheader",
        "--array",
        "--states=all",
        "--format=%i|%T|%r",
        "--jobs=" + ",".join(_no_comma("job id", job_ids)),
    ]
