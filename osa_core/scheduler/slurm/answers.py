"""SLURM's answers read into our types, as pure functions (no I/O): sbatch, sacct, squeue.

What Slurm 22.05 really prints, and why the parsers read it as they do, is told with the command
lines in :mod:`osa_core.scheduler.slurm.commands`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import re
from typing import Any

from osa_core.model.arrays import expand_indices
from osa_core.model.errors import SchedulerError
from osa_core.model.states import JobState
from osa_core.model.usage import Usage
from osa_core.scheduler.base import TaskInfo
from osa_core.scheduler.slurm import figures
from osa_core.scheduler.slurm.commands import SACCT_FIELDS

SacctCache = dict[str, tuple[list[str], list[TaskInfo]]]
"""The last answer's tasks by allocation line: that line's step lines and their parse; and the
whole answer under WHOLE_ANSWER."""
WHOLE_ANSWER = "\0whole"
"""The cache's key for the last answer as a whole (no sacct line starts with a NUL)."""

FIELD_MAXRSS, FIELD_TOTALCPU, FIELD_REQMEM, FIELD_TIMELIMIT = (
    SACCT_FIELDS.index(f) for f in ("MaxRSS", "TotalCPU", "ReqMem", "Timelimit")
)

# Slurm's state names (sacct/squeue long form) -> ours. Anything else is an error, not a guess.
STATE_MAP: dict[str, JobState] = {
    "PENDING": JobState.PENDING,
    "REQUEUED": JobState.PENDING,  # back in the queue after a requeue: it will start again
    "REQUEUE_HOLD": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING,
    "RESV_DEL_HOLD": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "CONFIGURING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "RESIZING": JobState.RUNNING,
    "SUSPENDED": JobState.RUNNING,
    "STOPPED": JobState.RUNNING,
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "BOOT_FAIL": JobState.FAILED,
    "SPECIAL_EXIT": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
    "PREEMPTED": JobState.CANCELLED,
    "REVOKED": JobState.CANCELLED,
    "DEADLINE": JobState.TIMEOUT,
    "TIMEOUT": JobState.TIMEOUT,
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,
    "NODE_FAIL": JobState.NODE_FAIL,
}

_JOBID = re.compile(r"^(?P<job>\d+)(?:_(?:(?P<index>\d+)|\[(?P<range>[^\]]+)\]))?$")


def parse_sbatch(stdout: str) -> str:
    """``sbatch --parsable`` prints ``123`` or ``123;cluster``."""
    text = stdout.strip()
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise SchedulerError("sbatch printed no job id")
    job_id = lines[-1].split(";", 1)[0].strip()
    if not job_id.isdigit():
        raise SchedulerError(f"sbatch printed {text!r}, not a job id")
    return job_id


def parse_state(text: str) -> JobState:
    """``CANCELLED by 0`` -> CANCELLED; an unknown name raises."""
    words = text.split()
    state = STATE_MAP.get(words[0].rstrip("+")) if words else None
    if state is None:
        raise SchedulerError(f"unknown SLURM job state {text!r}")
    return state


@functools.lru_cache(maxsize=65536)
def parse_time(text: str) -> dt.datetime | None:
    """sacct's time, printed with ``TZ=UTC``; ``Unknown``/``None``/empty -> None.

    Cached: the tasks of an array share their submit time and many share start/end seconds,
    and a 10,000-task night parses 30,000 of them per refresh.
    """
    if text in ("", "Unknown", "None"):
        return None
    if len(text) != 19 or text[10] != "T":
        raise SchedulerError(f"cannot read time {text!r}")
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    except ValueError:
        raise SchedulerError(f"cannot read time {text!r}") from None


def parse_exit_code(text: str) -> tuple[int, int]:
    """``2:0`` -> (2, 0): exit code and the signal that ended it."""
    m = re.fullmatch(r"(\d+):(\d+)", text)
    if m is None:
        raise SchedulerError(f"cannot read exit code {text!r}")
    return int(m.group(1)), int(m.group(2))


def _task(
    job: str,
    index: int | None,
    name: str,
    state: JobState,
    exit_sig: tuple[int, int] | None,
    node: str | None,
    times: tuple[dt.datetime | None, dt.datetime | None, dt.datetime | None],
    reason: str | None,
    usage: Usage | None = None,
) -> TaskInfo:
    finished = state.finished
    exit_code, signal = exit_sig if (exit_sig is not None and finished) else (None, None)
    return TaskInfo(
        job_id=job,
        array_index=index,
        name=name,
        state=state,
        exit_code=exit_code,
        signal=signal or None,
        node=node,
        submit=times[0],
        start=times[1],
        end=times[2],
        # On a started job sacct's Reason is the last reason it *waited* for: meaningless now.
        reason=reason if state is JobState.PENDING else None,
        usage=usage,
    )


def parse_sacct(
    text: str, cache: SacctCache | None = None, *, width: int = len(SACCT_FIELDS)
) -> list[TaskInfo]:
    """Lines of ``sacct -P -n --format=SACCT_FORMAT`` -> one TaskInfo per task.

    A task's allocation line comes with its steps' lines (``123_4.batch``), which add only the
    figures the allocation line lacks (MaxRSS). A pending range (``123_[5-199%4]``) becomes one
    PENDING task per index. A task seen twice (requeue, ``--duplicates``) keeps its last line. A
    line that cannot be read raises SchedulerError naming it: nothing is dropped silently.
    ``width``: answers captured with only the first fields of SACCT_FIELDS (no figures).
    """
    n = width
    if cache is not None and (last := cache.get(WHOLE_ANSWER)) is not None and last[0][0] == text:
        # Nothing changed since the last answer (an idle night): the same tasks, the very objects,
        # after one comparison of the text instead of a walk over its lines.
        return list(last[1])
    out: list[TaskInfo] = []
    seen: SacctCache = {}
    known = cache if cache is not None else {}
    for lineno, lines in _groups(text):
        # Between two refreshes of a night most tasks are unchanged: reuse their parse, and the
        # very TaskInfo objects, which the engine then skips without comparing a field. Keyed by
        # the allocation line alone (hashing it costs what hashing the whole group would not),
        # its step lines compared.
        hit = known.get(lines[0])
        parsed = hit[1] if hit is not None and hit[0] == lines else _parse_group(lines, lineno, n)
        seen[lines[0]] = (lines, parsed)
        out.extend(parsed)
    if len({(info.job_id, info.array_index) for info in out}) != len(out):
        out = _last_line_wins(out)
    if cache is not None:  # keep only this answer's lines: the cache never outgrows one night
        cache.clear()
        cache.update(seen)
        cache[WHOLE_ANSWER] = ([text], list(out))
    return out


def _last_line_wins(out: list[TaskInfo]) -> list[TaskInfo]:
    # A task on two lines (requeue with --duplicates, a range and an index): the later line
    # wins and moves to the end.
    tasks: dict[tuple[str, int | None], TaskInfo] = {}
    for info in out:
        tasks.pop((info.job_id, info.array_index), None)
        tasks[(info.job_id, info.array_index)] = info
    return list(tasks.values())


def _groups(text: str) -> list[tuple[int, list[str]]]:
    """(line number, an allocation line and its step lines): sacct prints a job's steps
    right after it. A step line without its job (cut off by the time window) is left out: it
    carries figures only, never a state. Written for speed: a night's refresh reads every line."""
    groups: list[tuple[int, list[str]]] = []
    current: list[str] = []
    job = ""
    for lineno, line in enumerate(text.splitlines(), start=1):
        bar = line.find("|")
        dot = line.find(".", 0, bar) if bar > 0 else -1
        if dot >= 0:
            if current and line[:dot] == job:
                current.append(line)
            continue
        if not line.strip():
            continue
        current, job = [line], line[:bar]
        groups.append((lineno, current))
    return groups


def _parse_group(lines: list[str], lineno: int, n: int) -> list[TaskInfo]:
    head, *steps = lines
    tasks = _parse_line(head, lineno, n)
    if not steps or n <= FIELD_MAXRSS:
        return tasks
    usage = tasks[0].usage or Usage()
    peaks = [usage.max_rss] if usage.max_rss is not None else []
    cpu = usage.cpu_seconds
    step_cpu = 0.0
    for offset, line in enumerate(steps, start=1):
        parts = line.rsplit("|", len(SACCT_FIELDS) - 1)
        try:
            rss = figures.size_bytes(parts[FIELD_MAXRSS])
            step_cpu += figures.duration_seconds(parts[FIELD_TOTALCPU]) or 0.0
        except (SchedulerError, IndexError) as exc:
            what = exc.message if isinstance(exc, SchedulerError) else "too few fields"
            raise SchedulerError(f"sacct line {lineno + offset}: {what}: {line!r}") from None
        if rss is not None:
            peaks.append(rss)
    if cpu is None and tasks[0].state.finished and step_cpu:
        cpu = step_cpu  # the allocation line sums its steps; this is only for a release that does not
    usage = dataclasses.replace(usage, max_rss=max(peaks) if peaks else None, cpu_seconds=cpu)
    return [dataclasses.replace(task, usage=usage) for task in tasks]


def _parse_line(line: str, lineno: int, n: int) -> list[TaskInfo]:
    parts = line.split("|")
    if len(parts) > n:  # a "|" inside the job name: the other fields have none
        parts = [*parts[:2], "|".join(parts[2 : len(parts) - n + 3]), *parts[len(parts) - n + 3 :]]
    if len(parts) != n:
        raise SchedulerError(f"sacct line {lineno}: expected {n} fields, got {len(parts)}: {line!r}")
    jobid, _raw, name, state_s, exit_s, node_s, submit_s, start_s, end_s, reason_s = parts[:10]
    try:
        m = _JOBID.match(jobid)
        if m is None:
            raise SchedulerError(f"cannot read job id {jobid!r}")
        state = parse_state(state_s)
        exit_sig = parse_exit_code(exit_s) if exit_s else None
        times = (parse_time(submit_s), parse_time(start_s), parse_time(end_s))
        node = None if node_s in ("", "None assigned") else node_s
        reason = None if reason_s in ("", "None") else reason_s
        usage = _usage(parts, state) if n > FIELD_MAXRSS else None
        job = m.group("job")
        if m.group("range") is not None:
            indices: list[int | None] = list(expand_indices(m.group("range")))
            # A range is what has not started: pending, or cancelled before it started
            # (seen on 22.05: "37_[0-1]|...|CANCELLED by 0").
            if state not in (JobState.PENDING, JobState.CANCELLED):
                raise SchedulerError(f"an index range in state {state_s!r}")
        elif m.group("index") is not None:
            indices = [int(m.group("index"))]
        else:
            indices = [None]
    except SchedulerError as exc:
        raise SchedulerError(f"sacct line {lineno}: {exc.message}: {line!r}") from None
    return [_task(job, index, name, state, exit_sig, node, times, reason, usage) for index in indices]


def _usage(parts: list[str], state: JobState) -> Usage | None:
    rss = figures.size_bytes(parts[FIELD_MAXRSS])
    # A running allocation line reads 0 CPU until its steps end: no figure rather than a wrong one.
    cpu = figures.duration_seconds(parts[FIELD_TOTALCPU]) if state.finished else None
    req = figures.size_bytes(parts[FIELD_REQMEM], default_unit="M")
    limit = figures.minutes_limit(parts[FIELD_TIMELIMIT])
    usage = Usage(rss, cpu or None, req, limit)
    return None if usage.empty else usage


def parse_squeue_tasks(text: str) -> dict[tuple[str, int | None], tuple[JobState, str | None]]:
    """``squeue --array --format=%i|%T|%r`` -> {(job, index): (state, reason)}."""
    out: dict[tuple[str, int | None], tuple[JobState, str | None]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("|")
        m = _JOBID.match(parts[0].strip()) if len(parts) == 3 else None
        if m is None or m.group("range") is not None:
            raise SchedulerError(f"squeue line {lineno}: cannot read {line!r}")
        index = int(m.group("index")) if m.group("index") is not None else None
        reason = parts[2].strip()
        out[(m.group("job"), index)] = (
            parse_state(parts[1].strip()),
            None if reason in ("", "None") else reason,
        )
    return out


def parse_squeue_named(text: str) -> list[TaskInfo]:
    """``squeue --array --format=%F|%K|%j|%T|%V|%r`` -> one TaskInfo per task (no exit code,
    no usage: squeue has neither). A name may hold a ``|``: the other fields have none."""
    out: list[TaskInfo] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        head = line.split("|", 2)
        tail = head[-1].rsplit("|", 3) if len(head) == 3 else []
        if len(tail) != 4 or not head[0].strip().isdigit():
            raise SchedulerError(f"squeue line {lineno}: cannot read {line!r}")
        job, index = head[0].strip(), head[1].strip()
        name, state, submit, reason = tail
        try:
            task = _task(
                job,
                None if index == "N/A" else int(index),
                name,
                parse_state(state.strip()),
                None,
                None,
                (parse_time(submit.strip()), None, None),
                None if reason.strip() in ("", "None") else reason.strip(),
                None,
            )
        except (SchedulerError, ValueError) as exc:
            what = exc.message if isinstance(exc, SchedulerError) else str(exc)
            raise SchedulerError(f"squeue line {lineno}: {what}: {line!r}") from None
        out.append(task)
    return out


def parse_squeue_reasons(text: str) -> dict[str, str]:
    """``squeue --format=%i|%r`` lines -> {job id (an array's master id): reason}."""
    reasons: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        jobid, sep, reason = line.partition("|")
        m = _JOBID.match(jobid.strip())
        if not sep or m is None:
            raise SchedulerError(f"squeue line {lineno}: cannot read {line!r}")
        reason = reason.strip()
        if reason and reason != "None":
            reasons.setdefault(m.group("job"), reason)
    return reasons


# --- sacct --json (secondary path) --------------------------------------------------------------
def _field(obj: Any, path: str, kinds: type | tuple[type, ...], where: str) -> Any:
    value = obj
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise SchedulerError(f"sacct --json: {where} has no {path!r}")
        value = value[key]
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise SchedulerError(
            f"sacct --json: {where} {path} is {type(value).__name__}, not the {kinds} of Slurm 22.05 "
            "(a newer release's layout? use the text form)"
        )
    return value


def _epoch(value: int) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, dt.UTC) if value > 0 else None


def parse_sacct_json(text: str) -> list[TaskInfo]:
    """``sacct -X --json`` as Slurm 22.05 prints it (openapi dbv0.0.38) -> TaskInfo per task.

    Any other layout (no ``jobs`` list, or the typed ``{"set": .., "number": ..}`` fields and
    state lists of 23.x) raises SchedulerError saying which field did not fit.
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchedulerError(f"sacct --json printed no JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), list):
        raise SchedulerError("sacct --json: no 'jobs' list in the answer")
    errors = doc.get("errors") or []
    if errors:
        raise SchedulerError(f"sacct --json reported errors: {errors}")
    tasks: dict[tuple[str, int | None], TaskInfo] = {}
    for n, job in enumerate(doc["jobs"]):
        where = f"jobs[{n}]"
        job_id = _field(job, "job_id", int, where)
        where = f"job {job_id}"
        name = _field(job, "name", str, where)
        state_s = _field(job, "state.current", str, where)
        reason_s = _field(job, "state.reason", str, where)
        try:
            state = parse_state(state_s)
        except SchedulerError as exc:
            raise SchedulerError(f"sacct --json: {where}: {exc.message}") from None
        array_job = _field(job, "array.job_id", int, where)
        task_id = _field(job, "array.task_id", (int, type(None)), where)
        task_bits = _field(job, "array.task", (str, type(None)), where)
        status = _field(job, "exit_code.status", str, where)
        code = _field(job, "exit_code.return_code", (int, type(None)), where)
        signal = 0
        if status == "SIGNALED":
            signal = _field(job, "exit_code.signal.signal_id", int, where)
        if state is JobState.FAILED and status == "SUCCESS" and code == 0:
            exit_sig: tuple[int, int] | None = None  # 22.05 JSON loses the real code (see module doc)
        else:
            exit_sig = (code or 0, signal)
        nodes = _field(job, "nodes", str, where)
        times = tuple(_epoch(_field(job, f"time.{k}", int, where)) for k in ("submission", "start", "end"))
        master = str(array_job or job_id)
        if task_bits is not None and task_id is None:
            # The not-yet-split rest of an array: a hex bitmap, bit i set = index i pending.
            try:
                bits = int(task_bits, 16)
            except ValueError:
                raise SchedulerError(f"sacct --json: {where}: cannot read array.task {task_bits!r}") from None
            indices: list[int | None] = [i for i in range(bits.bit_length()) if bits >> i & 1]
        else:
            indices = [task_id if array_job else None]
        for index in indices:
            tasks.pop((master, index), None)
            tasks[(master, index)] = _task(
                master,
                index,
                name,
                state,
                exit_sig,
                None if nodes in ("", "None assigned") else nodes,
                (times[0], times[1], times[2]),
                None if reason_s in ("", "None") else reason_s,
            )
    return list(tasks.values())
