"""The job-side runner: runs one task's steps in order, timing each, recording each.

It runs inside the batch job, imports nothing heavy (lstchain runs as processes), and writes
only to the task's history file and its own stdout/stderr (the job log). A rerun skips the
steps an earlier attempt finished whose outputs still exist, unless the profile file says a step
must run again (``skip_when_done = false``). Its exit code is the failed step's.
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from osa_core.jobs.history import StepRecord, append_record, now_iso, read_records
from osa_core.model.errors import OsaError
from osa_core.pipeline.base import StepCommand

MISSING_INPUT = 66  # EX_NOINPUT from sysexits.h: the step never started
CANNOT_START = 126  # what a shell answers for a command that cannot be executed
TAIL_LINES = 15


@dataclass(frozen=True, slots=True)
class TaskIdentity:
    attempt: int
    job_id: str | None
    array_index: int | None
    host: str

    @classmethod
    def from_environment(cls, attempt: int) -> TaskIdentity:
        index = os.environ.get("SLURM_ARRAY_TASK_ID")
        return cls(
            attempt=attempt,
            job_id=os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID"),
            array_index=int(index) if index and index.isdigit() else None,
            host=os.environ.get("SLURMD_NODENAME") or socket.gethostname(),
        )


def parse_attempt_map(text: str | None) -> dict[int, int]:
    """``3=2,17=3``: the attempt each array index runs as (index absent: attempt 1)."""
    out: dict[int, int] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        index, _, attempt = item.partition("=")
        if not (index.strip().isdigit() and attempt.strip().isdigit()):
            raise OsaError(f"--attempt-map: expected INDEX=ATTEMPT pairs like 3=2,17=3, got {text!r}")
        out[int(index)] = int(attempt)
    return out


def done_steps(history: Path) -> set[str]:
    """Steps some earlier attempt finished with exit code 0."""
    records, _ = read_records(history)
    return {r.step for r in records if r.event in ("end", "skip") and r.exit_code == 0}


def run_steps(steps: Sequence[StepCommand], history: Path, who: TaskIdentity) -> int:
    """Run the steps; return 0, or the exit code of the step that failed."""
    finished = done_steps(history)
    # Forward SIGTERM (SLURM's timeout/cancel) to the running step, then let it be recorded.
    current: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        for proc in current:
            try:
                proc.send_signal(signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)

    def record(event: str, step: str, exit_code: int | None = None, **extra: object) -> None:
        append_record(
            history,
            StepRecord(
                event=event,
                step=step,
                time=now_iso(),
                attempt=who.attempt,
                host=who.host,
                job_id=who.job_id,
                array_index=who.array_index,
                exit_code=exit_code,
                **extra,  # type: ignore[arg-type]
            ),
        )

    for step in steps:
        if step.skip_when_done and step.name in finished and all(p.exists() for p in step.outputs):
            print(f"[osa] {step.name}: done by an earlier attempt, skipped", flush=True)
            record("skip", step.name, 0, detail="done by an earlier attempt")
            continue
        if step.note:
            print(f"[osa] {step.name}: {step.note}", flush=True)
        record("start", step.name)
        missing = [str(p) for p in step.inputs if not p.exists()]
        if missing:
            detail = "missing input: " + ", ".join(missing)
            print(f"[osa] {step.name}: {detail}", file=sys.stderr, flush=True)
            record("end", step.name, MISSING_INPUT, detail=detail)
            return MISSING_INPUT
        # A step not recorded as done left nothing trustworthy; some tools (lstchain's R0->DL1,
        # the muon merger) refuse to overwrite, so stale outputs go before the rerun.
        for output in step.outputs:
            try:
                output.unlink()
            except (FileNotFoundError, IsADirectoryError):
                pass
        code, tail = _run_one(step, current)
        outputs = tuple(str(p) for p in step.outputs)
        if code == 0:
            absent = [o for o in outputs if not Path(o).exists()]
            if absent:
                detail = "exited 0 but did not write: " + ", ".join(absent)
                record("end", step.name, 1, detail=detail)
                print(f"[osa] {step.name}: {detail}", file=sys.stderr, flush=True)
                return 1
            record("end", step.name, 0, outputs=outputs)
            continue
        record("end", step.name, code, detail="\n".join(tail))
        return code
    return 0


def _run_one(step: StepCommand, current: list[subprocess.Popen[bytes]]) -> tuple[int, list[str]]:
    print(f"[osa] {step.name}: {' '.join(step.argv)}", flush=True)
    env = {**os.environ, **dict(step.env)}
    # The job may run a venv's python without its bin/ on PATH (cron, CI): profiles name the
    # directories their executables live in (the job's own bin/, where lstchain's are).
    for bindir in reversed(step.path_prepend):
        if bindir not in env.get("PATH", "").split(os.pathsep):
            env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    try:
        proc = subprocess.Popen(
            list(step.argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    except OSError as exc:
        message = f"cannot start {step.argv[0]}: {exc.strerror or exc}"
        print(f"[osa] {step.name}: {message}", file=sys.stderr, flush=True)
        return CANNOT_START, [message]
    current.append(proc)
    assert proc.stdout is not None
    out = sys.stdout.buffer
    for line in proc.stdout:
        out.write(line)
        out.flush()
        tail.append(line.decode("utf-8", "replace").rstrip())
    code = proc.wait()
    current.remove(proc)
    if code < 0:  # killed by a signal: report it as a shell would
        code = 128 - code
    return code, list(tail)
