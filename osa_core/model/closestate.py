"""The closing's vocabulary: per-run states and the rows the ledger keeps for them.

A run goes ``pending -> submitting -> merging -> merged -> verified -> moved -> cleaned``; each
arrow is one ledger write made after the work it names is durable, so a closer killed anywhere
resumes from the last state written and redoes at most the step it was in (every step is
idempotent). ``failed`` and ``excluded`` are terminal. Pure types: imported by the ledger.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from osa_core.model.snapshot import StepTiming


class RunClose(StrEnum):
    PENDING = "pending"
    """Included in the closing; no merge job yet (or the last one failed and is to be retried)."""
    SUBMITTING = "submitting"
    """The merge job is being submitted: the intent is written before sbatch runs."""
    MERGING = "merging"
    """The merge job exists (its id is recorded); waiting for it to finish."""
    MERGED = "merged"
    """The merge job completed; its outputs are in the work area, not yet checked."""
    VERIFIED = "verified"
    """Every merged product opens and its event count is the sum over the subruns."""
    MOVED = "moved"
    """The verified products are in their final places."""
    CLEANED = "cleaned"
    """Subrun files removed (or kept, per ``close.keep_subrun_files``): the run is done."""
    FAILED = "failed"
    """The merge failed on every try: subrun files kept, run listed as failed."""
    EXCLUDED = "excluded"
    """Left out by ``close --force`` because it was not complete; nothing was touched."""

    @property
    def terminal(self) -> bool:
        return self in (RunClose.CLEANED, RunClose.FAILED, RunClose.EXCLUDED)


@dataclass(frozen=True, slots=True)
class VerifiedProduct:
    """One merged product as it was verified: what the mover and cleaner check against."""

    kind: str
    """``dl1``, ``dl2``, ``muons``, ``datacheck`` or ``datacheck_pdf``."""
    name: str
    """File name, the same in the work area and in the final place."""
    level: str
    """``final_dir`` level it goes to (DL1, DL2, muons, datacheck)."""
    size: int
    events: int | None
    """Rows/events counted in the merged file (None: a product without events, e.g. a PDF)."""

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "name": self.name,
            "level": self.level,
            "size": self.size,
            "events": self.events,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> VerifiedProduct:
        events = data.get("events")
        return cls(
            kind=str(data["kind"]),
            name=str(data["name"]),
            level=str(data["level"]),
            size=int(str(data["size"])),
            events=None if events is None else int(str(events)),
        )


@dataclass(frozen=True, slots=True)
class ClosingRun:
    run: int
    seq: int
    subruns: int
    state: RunClose
    attempt: int = 0
    """Merge jobs submitted so far for this run."""
    job_id: str | None = None
    """The current merge job."""
    jobs: tuple[str, ...] = ()
    """Every merge job id of this run: a job found after a crash is new only if not among them."""
    submitted_at: dt.datetime | None = None
    reason: str = ""
    """Why it was excluded, failed or retried, in words."""
    products: tuple[VerifiedProduct, ...] = ()


@dataclass(frozen=True, slots=True)
class ClosingDatacheck:
    """What the closing's datacheck built, or why it could not (a plot never holds a night open)."""

    dir: str | None = None
    files: int | None = None
    error: str | None = None

    def for_flag(self) -> dict[str, object]:
        """The night-finished flag's ``datacheck`` entry."""
        if self.error is not None:
            return {"error": self.error}
        return {"dir": self.dir, "files": self.files}


@dataclass(frozen=True, slots=True)
class ClosingRecord:
    """One closing of the night: when it began, whether forced, and its summary once finished."""

    id: int
    started: dt.datetime
    forced: bool
    finished: dt.datetime | None
    summary: str
    """The night-finished flag's JSON, once finished."""
    status: str = ""
    """What the snapshot says of the closing: ``merging 3/8 runs``, ``closed ... UTC: ...``."""
    closed_at: dt.datetime | None = None
    """The closing time, fixed before the flag is written so that the flag and the ledger agree."""
    datacheck: ClosingDatacheck | None = None
    """Set once the closing's datacheck ran (built or failed)."""


@dataclass(frozen=True, slots=True)
class ClosingJob:
    """One job of the closing and the steps its last attempt ran: a run's merge job (``run`` set)
    or the night-wise checks (``run`` None), as the job-side runner recorded them."""

    run: int | None
    attempt: int
    job_id: str | None
    host: str
    steps: tuple[StepTiming, ...]

    @property
    def label(self) -> str:
        return f"run {self.run:05d} merge" if self.run is not None else "night-wise checks"

    @property
    def failed(self) -> bool:
        return any(s.exit_code not in (None, 0) for s in self.steps)

    @property
    def running(self) -> bool:
        return any(s.running for s in self.steps)
