"""The project's exception types: each carries a message an operator can act on.

The CLI turns them into ``FILE:LINE: message`` and an exit code; nothing else escapes.
"""

from __future__ import annotations

import errno
import os
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


class StorageError(OsaError):
    """A file or directory the engine needs could not be written or read: a full disk, a
    read-only file system, a permission, a missing or wrong parent directory."""

    exit_code = 13


# What to do about each errno an operator can meet on a disk, said once for every command.
_ADVICE: dict[int, str] = {
    errno.ENOSPC: "no space left on the device: free space there, then run the command again",
    errno.EDQUOT: "disk quota exceeded: free space or raise the quota, then run the command again",
    errno.EROFS: "read-only file system: remount it read-write or point the configuration elsewhere",
    errno.EACCES: "permission denied: give this user access to it or point the configuration elsewhere",
    errno.EPERM: "operation not permitted: give this user access or point the configuration elsewhere",
    errno.ENOENT: "no such file or directory: create its parent or fix the path in the configuration",
    errno.ENOTDIR: "a parent of this path is not a directory: fix the path in the configuration",
    errno.EISDIR: "is a directory where a file was expected: fix the path in the configuration",
    errno.EEXIST: "exists and is in the way: move it aside or fix the path in the configuration",
    errno.ENAMETOOLONG: "file name too long: shorten the configured path",
    errno.EIO: "input/output error: the disk or network file system is failing; check it",
}


def storage_error(exc: Exception, path: Path | str | None = None) -> StorageError:
    """One operator's line for an OSError (or SQLite's disk errors), naming the path and what to do.

    ``path`` names the file when the error itself does not (SQLite's never do).
    """
    where: Path | str | None = path
    if isinstance(exc, OSError):
        if isinstance(exc.filename, str | os.PathLike):
            where = os.fsdecode(exc.filename)
        text = _ADVICE.get(exc.errno or 0) or exc.strerror or str(exc)
        if exc.filename2 is not None:
            text += f" (while moving it to {exc.filename2})"
        return StorageError(text, path=where)
    text = str(exc)
    lowered = text.lower()
    if "full" in lowered:
        text = f"SQLite: {text}: {_ADVICE[errno.ENOSPC]}"
    elif "readonly" in lowered or "read-only" in lowered:
        text = f"SQLite: {text}: make the file and its directory writable, or point paths.state elsewhere"
    elif "unable to open" in lowered:
        text = f"SQLite: {text}: check that the directory exists and is writable (paths.state)"
    else:
        text = f"SQLite: {text}"
    return StorageError(text, path=where)
