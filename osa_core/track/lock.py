"""The night's mutation lock: submit, resubmit, cancel and close hold it, so cron and a
console acting together never submit twice. An flock dies with its process: no stale locks."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from osa_core.model.errors import LockBusy


@contextmanager
def night_lock(path: Path, wait: float = 60.0, what: str = "a mutation") -> Iterator[None]:
    """Hold the lock; wait up to ``wait`` seconds for another holder, then raise LockBusy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(path)
                    raise LockBusy(
                        f"another process holds the night's lock ({holder}); {what} was not started",
                        path=path,
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {os.uname().nodename}: {what}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _read_holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown holder"
    except OSError:
        return "unknown holder"
