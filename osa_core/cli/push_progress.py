"""The progress of ``osa-core push``: a Rich bar on a terminal, one log line per file under cron.

:func:`osa_core.push.push` calls a progress callback as each file uploads; this is the one
``osa-core push`` gives it (the engine's push, which the console uses, passes none).
"""

from __future__ import annotations

import logging
import sys

from rich import progress as rp
from rich.console import Console

log = logging.getLogger("osa_core.publish.push")  # part of the push: its lines keep the push's logger name


class CliProgress:
    """A push progress callback: a Rich bar on a terminal, one log line per file otherwise."""

    def __init__(self, terminal: bool) -> None:
        self._bar: rp.Progress | None = None
        self._task: rp.TaskID | None = None
        if terminal:
            columns = (rp.TextColumn("{task.description}"), rp.BarColumn(), rp.DownloadColumn())
            self._bar = rp.Progress(*columns, rp.TransferSpeedColumn(), console=Console(stderr=True))

    def __call__(self, remote: str, done: int, total: int) -> None:
        if self._bar is None:
            if done == total:  # cron: a line per file in place, not one per chunk
                log.info("uploaded %s (%d bytes)", remote, total)
            return
        if self._task is None:
            self._bar.start()
            self._task = self._bar.add_task(remote, total=total)
        if self._bar.tasks[0].description != remote:  # one bar, reused by each file in turn
            self._bar.reset(self._task, total=total, description=remote)
        self._bar.update(self._task, completed=done)

    def close(self) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.stop()
            self._task = None

    def __enter__(self) -> CliProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def push_cli_progress() -> CliProgress:
    """The progress callback for ``osa-core push``; use it as a context manager to end the bar."""
    return CliProgress(terminal=sys.stderr.isatty())
