"""The task wrapper of the local backend: runs one task's command and records how it ended.

``python -I -S task.py STATUS_FILE COMMAND...`` (or ``python -m
osa_core.scheduler.local.task ...``). The daemon starts it as the leader of a new session; the
command inherits its stdin/stdout/stderr, working directory and environment.

Why a wrapper: only a parent can learn a child's exit status. If the daemon is killed and
restarted while tasks run, the tasks keep running (own sessions) and the new daemon, which is not
their parent, learns their outcome from the status file this wrapper writes atomically when the
command ends: ``{"exit_code": int, "signal": int | null, "end": epoch seconds, "max_rss": bytes,
"cpu": seconds}`` (the last two from ``wait4``: the command and the children it waited for).

The wrapper ignores SIGTERM/SIGINT/SIGHUP: the daemon signals the whole session, the command dies
(or handles the signal), and the wrapper survives to record it. Only SIGKILL stops it, and then
the daemon, which sent it, knows why. Standard library only, so it starts in milliseconds and
does not depend on the task's PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType


@dataclass(frozen=True, slots=True)
class TaskStatus:
    exit_code: int
    signal: int | None
    end: float
    max_rss: int | None = None
    """Peak resident memory of the command (or of its largest waited-for child), bytes."""
    cpu: float | None = None
    """User + system CPU seconds of the command and its waited-for children."""


def write_status(path: Path, status: TaskStatus) -> None:
    """Write the status whole or not at all (temporary name, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = json.dumps(
        {
            "exit_code": status.exit_code,
            "signal": status.signal,
            "end": status.end,
            "max_rss": status.max_rss,
            "cpu": status.cpu,
        }
    )
    with open(tmp, "w", encoding="ascii") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_status(path: Path) -> TaskStatus | None:
    """The recorded status, or None when the wrapper did not write one (killed, not finished)."""
    try:
        data = json.loads(path.read_text(encoding="ascii"))
        rss, cpu = data.get("max_rss"), data.get("cpu")  # absent in a status written before they were
        return TaskStatus(
            int(data["exit_code"]),
            data["signal"],
            float(data["end"]),
            int(rss) if rss is not None else None,
            float(cpu) if cpu is not None else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _ignore(signum: int, frame: FrameType | None) -> None:
    """The command got the same signal (the daemon signals the session); outlive it to record it."""


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: task.py STATUS_FILE COMMAND...", file=sys.stderr)
        return 2
    status_path, command = Path(argv[0]), argv[1:]
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        # A Python handler, not SIG_IGN: handlers reset to default on exec, SIG_IGN would be
        # inherited and make the command immune too.
        signal.signal(signum, _ignore)
    try:
        proc = subprocess.Popen(command)
    except OSError as exc:
        print(f"local scheduler: cannot run {command[0]}: {exc}", file=sys.stderr)
        write_status(status_path, TaskStatus(127, None, time.time()))
        return 127
    # wait4, not wait: the same exit status plus what the command used (Linux: ru_maxrss in KiB).
    _, raw, usage = os.wait4(proc.pid, 0)
    returncode = proc.returncode = os.waitstatus_to_exitcode(raw)
    rss, cpu = usage.ru_maxrss * 1024, round(usage.ru_utime + usage.ru_stime, 3)
    if returncode < 0:
        # Like Slurm's ExitCode "0:9": no exit code, the signal that killed the command.
        write_status(status_path, TaskStatus(0, -returncode, time.time(), rss, cpu))
        return 128 - returncode
    write_status(status_path, TaskStatus(returncode, None, time.time(), rss, cpu))
    return returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
