"""What is wrong with a night that a person must hear about, as one look at the night finds it.

The autopilot (and any command that looks at a night) reports the *conditions* it sees now; the
alerts room compares them with the incidents already open in the night's ledger, so one incident
is announced once when it appears and once more when it clears, however often the night is
looked at. A condition's ``key`` is what makes two passes agree that they see the same incident:
it names the kind and the thing (``calibration_failed:run=1804``), never a count or a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ConditionKind(StrEnum):
    """Every kind of incident an alert can be about (docs/operations.md says what to do for each)."""

    CALIBRATION_FAILED = "calibration_failed"
    RETRIES_EXHAUSTED = "retries_exhausted"
    DATA_BLOCKED = "data_blocked"
    SCHEDULER_SILENT = "scheduler_silent"
    RAW_FILES_MISSING = "raw_files_missing"
    RUN_UNBUILDABLE = "run_unbuildable"
    NIGHT_FILE_UNREADABLE = "night_file_unreadable"
    NOT_CLOSED = "not_closed"
    CLOSING_FAILED = "closing_failed"
    PUSH_FAILED = "push_failed"
    DISK_LOW = "disk_low"


@dataclass(frozen=True, slots=True)
class Condition:
    """One incident as seen now: stable identity, a one-line summary, and what a person should do."""

    kind: ConditionKind
    subject: str
    """The thing it is about, stable across passes: ``run=1804``, ``night``, ``/fefs/...``."""
    summary: str
    """One line a person reads first: what is wrong, with the run and subruns named."""
    advice: str = ""
    """What to do about it (one or two sentences)."""

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.subject}"
