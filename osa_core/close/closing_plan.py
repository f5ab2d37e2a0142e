"""What a closing takes in, and how it is told: pure functions of the snapshot and the ledger rows.

:func:`decide` is the check before anything is done: every sequence finished, every subrun
COMPLETED; otherwise the list of what is missing, or with ``force`` the runs left out and why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from osa_core.model.closestate import ClosingRecord, ClosingRun, RunClose
from osa_core.model.snapshot import NightSnapshot, SequenceStatus, SubrunStatus
from osa_core.model.states import JobState, SequenceType

if TYPE_CHECKING:
    from osa_core.close.port import ClosingHost

SHOWN = 8
"""Subruns named per run in a refusal; the rest are counted."""


@dataclass(frozen=True, slots=True)
class Decision:
    included: tuple[ClosingRun, ...]
    excluded: tuple[ClosingRun, ...]
    missing: tuple[str, ...]
    """One line per sequence that is not complete, naming its subruns and why."""
    refusal: str | None
    """Set when nothing may be done (incomplete without ``force``, or nothing to close)."""


def _not_done(subruns: tuple[SubrunStatus, ...]) -> list[SubrunStatus]:
    return [s for s in subruns if s.state is not JobState.COMPLETED]


def _what(status: SequenceStatus, bad: list[SubrunStatus]) -> str:
    kind = "calibration run" if status.type is SequenceType.CALIBRATION else "run"
    if len(bad) == status.subruns and all(s.state is JobState.NOT_SUBMITTED for s in bad):
        return f"{kind} {status.run:05d} (seq {status.seq}): never submitted"
    counts = Counter(s.state.value for s in bad)
    shown = []
    for sub in bad[:SHOWN]:
        item = f"{sub.subrun:04d} {sub.state.value}"
        if sub.reason:
            item += f" ({sub.reason.splitlines()[0][:80]})"
        shown.append(item)
    more = f", and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
    tally = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    return (
        f"{kind} {status.run:05d} (seq {status.seq}): {len(bad)} of {status.subruns} not completed "
        f"[{tally}]: {'; '.join(shown)}{more}"
    )


def decide(snapshot: NightSnapshot, force: bool) -> Decision:
    included: list[ClosingRun] = []
    excluded: list[ClosingRun] = []
    missing: list[str] = []
    for status in snapshot.sequences:
        bad = _not_done(snapshot.subruns.get(status.seq, ()))
        if bad:
            missing.append(_what(status, bad))
        if status.type is SequenceType.CALIBRATION:
            continue
        if bad:
            tally = ", ".join(f"{n} {s}" for s, n in sorted(Counter(b.state.value for b in bad).items()))
            reason = f"{len(bad)} of {status.subruns} subruns not completed ({tally})"
            excluded.append(
                ClosingRun(status.run, status.seq, status.subruns, RunClose.EXCLUDED, reason=reason)
            )
        else:
            included.append(ClosingRun(status.run, status.seq, status.subruns, RunClose.PENDING))
    refusal = None
    submitted = any(
        s.state is not JobState.NOT_SUBMITTED for subruns in snapshot.subruns.values() for s in subruns
    )
    if not submitted:
        refusal = "nothing to close: no run of this night was submitted (submit the night first)"
        missing = []
    elif missing and not force:
        refusal = (
            f"the night is not complete ({len(missing)} sequence(s) not finished); nothing was done. "
            "Resubmit or wait, or `close --force` to close the complete runs"
        )
    elif not included:
        refusal = "nothing to close: no data run is complete"
    return Decision(tuple(included), tuple(excluded), tuple(missing), refusal)


def progress_text(runs: list[ClosingRun]) -> str:
    """The snapshot's one-line closing state, e.g. ``merging 3/8 runs``."""
    included = [r for r in runs if r.state is not RunClose.EXCLUDED]
    done = sum(1 for r in included if r.state in (RunClose.MOVED, RunClose.CLEANED))
    failed = sum(1 for r in included if r.state is RunClose.FAILED)
    excluded = len(runs) - len(included)
    if done + failed == len(included):
        text = f"finishing: {done}/{len(included)} runs merged, datacheck and flag next"
    else:
        text = f"merging {done}/{len(included)} runs"
    if failed:
        text += f", {failed} failed"
    if excluded:
        text += f", {excluded} excluded"
    return text


def summary(
    engine: ClosingHost,
    record: ClosingRecord,
    runs: list[ClosingRun],
    calibration: list[dict[str, object]],
    datacheck: dict[str, object],
    closed_at: str,
) -> dict[str, object]:
    """The night-finished flag's content: what was processed, failed, excluded, and when."""
    layout = engine.layout
    config = engine.config
    return {
        "night": layout.night,
        "date": layout.date.isoformat(),
        "prod_id": config.night.prod_id,
        "profile": engine.profile.name,
        "simulation": engine.profile.simulation,
        "forced": record.forced,
        "started": record.started.isoformat(timespec="seconds"),
        "closed": closed_at,
        "processed": [
            {
                "run": r.run,
                "seq": r.seq,
                "subruns": r.subruns,
                "merge_jobs": list(r.jobs),
                "subrun_files": r.reason,
                "products": [
                    {
                        "path": str(layout.final_dir(p.level) / p.name),
                        "events": p.events,
                        "size": p.size,
                    }
                    for p in r.products
                ],
            }
            for r in runs
            if r.state is RunClose.CLEANED
        ],
        "failed": [
            {"run": r.run, "seq": r.seq, "merge_jobs": list(r.jobs), "reason": r.reason}
            for r in runs
            if r.state is RunClose.FAILED
        ],
        "excluded": [
            {"run": r.run, "seq": r.seq, "reason": r.reason} for r in runs if r.state is RunClose.EXCLUDED
        ],
        "calibration": calibration,
        "datacheck": datacheck,
    }


def closed_text(record: ClosingRecord, runs: list[ClosingRun]) -> str:
    """The snapshot's closing state once closed, e.g. ``closed 2026-01-28 07:10 UTC: 8 run(s) merged``."""
    assert record.finished is not None
    merged = sum(1 for r in runs if r.state is RunClose.CLEANED)
    text = f"closed {record.finished:%Y-%m-%d %H:%M} UTC: {merged} run(s) merged"
    failed = sum(1 for r in runs if r.state is RunClose.FAILED)
    excluded = sum(1 for r in runs if r.state is RunClose.EXCLUDED)
    if failed:
        text += f", {failed} failed"
    if excluded:
        text += f", {excluded} excluded"
    return text


def describe(run: ClosingRun) -> str:
    """One run's line in a close report."""
    line = f"run {run.run:05d}: {run.state.value}"
    if run.job_id and run.state in (RunClose.MERGING, RunClose.SUBMITTING):
        line += f" (job {run.job_id})"
    if run.reason:
        line += f": {run.reason}"
    return line
