"""The processes of local tasks, seen through /proc (Linux): liveness, memory, signalling.

Each task runs under a wrapper (``local_task``) that leads its own session, so a task's processes
are the members of that session (and of its process group). Reading /proc costs about a
millisecond per hundred processes; the daemon does it only when a task has a memory limit, or
after a restart.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
WRAPPER_NAME = "task.py"


@dataclass(frozen=True, slots=True)
class Proc:
    pid: int
    state: str
    pgid: int
    sid: int
    rss: int
    """Resident memory, bytes."""


def read_proc(pid: int) -> Proc | None:
    """One process, or None if it does not exist (or is gone while reading)."""
    try:
        # os.open/os.read: half the cost of open() on a file read this often.
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
        try:
            raw = os.read(fd, 4096).decode("ascii", "replace")
        finally:
            os.close(fd)
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = raw[raw.rfind(")") + 2 :].split()
    try:
        return Proc(pid, fields[0], int(fields[2]), int(fields[3]), int(fields[21]) * PAGE_SIZE)
    except (IndexError, ValueError):
        return None


def all_procs() -> list[Proc]:
    procs = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            proc = read_proc(int(entry))
            if proc is not None:
                procs.append(proc)
    return procs


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
    except OSError:
        return []
    return [part.decode("utf-8", "surrogateescape") for part in raw.split(b"\0")[:-1]]


def wrapper_argv(python: str, status: Path, command: list[str]) -> list[str]:
    """How the daemon starts a task: the wrapper script run isolated (-I: the task's PYTHON*
    variables do not touch it; -S: no site, faster), then the task's command."""
    wrapper = Path(__file__).with_name(WRAPPER_NAME)
    return [python, "-I", "-S", str(wrapper), str(status), *command]


def wrapper_status(pid: int) -> Path | None:
    """The status file of the task wrapper running as ``pid``; None if it is not one (or gone)."""
    argv = cmdline(pid)
    if len(argv) > 4 and argv[3].endswith(WRAPPER_NAME):
        return Path(argv[4])
    return None


def wrapper_alive(pid: int, status: Path) -> bool:
    """True while ``pid`` is the (non-zombie) wrapper writing ``status``.

    Checking the command line guards against pid reuse: a wrapper whose parent daemon died is
    reaped by init, and its pid may be handed to an unrelated process.
    """
    proc = read_proc(pid)
    if proc is None or proc.state in ("Z", "X"):
        return False
    return wrapper_status(pid) == status


def find_wrappers(status_dir: Path) -> dict[Path, int]:
    """Live wrappers of this spool, by status file: what a restarted daemon may adopt."""
    found = {}
    for proc in all_procs():
        if proc.state in ("Z", "X"):
            continue
        status = wrapper_status(proc.pid)
        if status is not None and status.parent == status_dir:
            found[status] = proc.pid
    return found


def session_rss(procs: list[Proc], leader: int) -> int:
    """Resident memory of a task: its session and group, without the wrapper itself."""
    return sum(p.rss for p in procs if (p.sid == leader or p.pgid == leader) and p.pid != leader)


def signal_task(leader: int, signum: signal.Signals, *, members: bool = True) -> None:
    """Signal a task's process group, and (``members``) every process left in its session
    (a script may have moved some into their own group)."""
    try:
        os.killpg(leader, signum)
    except (ProcessLookupError, PermissionError):
        pass
    if not members:
        return
    for proc in all_procs():
        if proc.sid == leader and proc.pid != leader:
            try:
                os.kill(proc.pid, signum)
            except (ProcessLookupError, PermissionError):
                pass
