"""The project's exception types: each carries a message an operator can act on.

The CLI turns them into ``FILE:LINE: message`` and an exit code; nothing else escapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from osa_core.model.actions import PushReport


class OsaError(Exception):
    """Base of every error the engine raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, path: Path | str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:"
            if self.line is not None:
                where += f"{self.line}:"
            where += " "
        return f"{where}{self.message}"


class InputError(OsaError):
    """A night file (NightSummary, RunSummary) that cannot be read as one."""

    exit_code = 2


class ConfigError(OsaError):
    """A configuration file with an unknown key, a wrong type or a missing path."""

    exit_code = 2


class PlanError(OsaError):
    """A plan that cannot be submitted as it is (e.g. data without calibration)."""

    exit_code = 3


class SchedulerError(OsaError):
    """The scheduler answered, but not with what was asked for."""

    exit_code = 4


class SchedulerUnreachable(SchedulerError):
    """The scheduler did not answer (controller down, command timed out)."""

    exit_code = 5


class LedgerError(OsaError):
    """The night ledger is unreadable or from a newer version of the program."""

    exit_code = 6


class LockBusy(OsaError):
    """Another process holds the night's mutation lock."""

    exit_code = 7


class RefusedAction(OsaError):
    """An action that would do harm (resubmitting a running subrun, closing an open night)."""

    exit_code = 8


class PushError(OsaError):
    """Publishing failed: server unreachable after every retry, login refused, bad remote root."""

    exit_code = 9

    def __init__(self, message: str, *, path: Path | None = None, report: PushReport | None = None) -> None:
        super().__init__(message, path=path)
        self.report = report  # what was done before giving up, for the CLI's summary


class HostKeyError(PushError):
    """The server's host key is not recorded in known_hosts, or differs from the recorded one."""

    exit_code = 11
