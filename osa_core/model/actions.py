"""What a front end asks the engine to do, and what it answers: selections, previews, reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from osa_core.model.snapshot import SubrunKey


@dataclass(frozen=True, slots=True)
class Selection:
    """Which subruns an action applies to.

    ``keys`` names subruns; ``seqs`` whole sequences; both None: the whole night.
    ``failed_only`` keeps only failed subruns (resubmission's usual case).
    ``exclude_nodes`` and ``more_memory`` shape a resubmission: never on those nodes
    (``sbatch --exclude``), and with the out-of-memory raise whatever the failure was.
    """

    keys: frozenset[SubrunKey] | None = None
    seqs: frozenset[int] | None = None
    runs: frozenset[int] | None = None
    failed_only: bool = False
    force: bool = False
    exclude_nodes: frozenset[str] = frozenset()
    more_memory: bool = False

    def describe(self) -> str:
        parts = []
        if self.runs:
            parts.append("runs " + ", ".join(str(r) for r in sorted(self.runs)))
        if self.seqs:
            parts.append("sequences " + ", ".join(str(s) for s in sorted(self.seqs)))
        if self.keys:
            parts.append(f"{len(self.keys)} marked subruns")
        what = "; ".join(parts) or "the whole night"
        if self.more_memory:
            what += ", with more memory"
        if self.exclude_nodes:
            what += ", not on node " + ", ".join(sorted(self.exclude_nodes))
        return f"{'failed subruns of ' if self.failed_only else ''}{what}"


@dataclass(frozen=True, slots=True)
class PlannedSubmission:
    """One array (or single job) an action would submit."""

    seq: int
    run: int
    indices: tuple[int, ...]
    attempts: tuple[int, ...]
    """The attempt number each index would get."""
    memory: str | None = None
    walltime: str | None = None
    after_ok: tuple[str, ...] = ()
    after_seq: int | None = None
    """Also wait for the job this same action submits for that sequence (a calibration rerun)."""
    exclude: tuple[str, ...] = ()
    """Nodes the array must not run on (``sbatch --exclude``)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    key: SubrunKey
    run: int
    reason: str


@dataclass(frozen=True, slots=True)
class ActionPreview:
    """Exactly what an action would do; the console's confirmation shows it."""

    action: str
    submissions: tuple[PlannedSubmission, ...] = ()
    cancels: tuple[tuple[str, tuple[int, ...] | None], ...] = ()
    """(job id, indices or None for the whole job)."""
    refused: tuple[Refusal, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.submissions and not self.cancels

    def lines(self) -> list[str]:
        out = []
        for sub in self.submissions:
            idx = ",".join(str(i) for i in sub.indices)
            tries = sorted(set(sub.attempts))
            extra = ""
            if sub.memory:
                extra += f", memory {sub.memory}"
            if sub.walltime:
                extra += f", wall time {sub.walltime}"
            if sub.after_seq is not None:
                extra += f", after the new job of seq {sub.after_seq}"
            if sub.exclude:
                extra += f", --exclude={','.join(sub.exclude)}"
            out.append(
                f"run {sub.run:05d} (seq {sub.seq}): --array={idx} "
                f"({len(sub.indices)} subrun{'s' if len(sub.indices) != 1 else ''}, "
                f"attempt {'/'.join(map(str, tries))}{extra})"
            )
        for job_id, indices in self.cancels:
            what = "whole job" if indices is None else f"indices {','.join(map(str, indices))}"
            out.append(f"cancel job {job_id}: {what}")
        for refusal in self.refused:
            out.append(f"not run {refusal.run:05d}.{refusal.key[1]:04d}: {refusal.reason}")
        return out


@dataclass(frozen=True, slots=True)
class ActionReport:
    action: str
    ok: bool
    message: str
    job_ids: tuple[str, ...] = ()
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LogRef:
    """Where one attempt of a subrun wrote its output."""

    attempt: int
    job_id: str
    stdout: Path
    stderr: Path
    history: Path
    extra: tuple[Path, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class PushReport:
    """What a push did: uploaded, skipped as unchanged, and failed files (the CLI's summary)."""

    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Unchanged since the last successful upload (manifest and remote size agree)."""
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(remote path, reason) of files that could not be published; the others were."""

    @property
    def ok(self) -> bool:
        return not self.failed
