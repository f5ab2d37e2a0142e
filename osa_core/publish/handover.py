"""The shift's handover, gathered from the night ledger and its snapshot: what the next shift needs.

What ran, what failed and why (by failure signature), what was resubmitted, cancelled or excluded
and by whom (the OS user the ledger records beside each submission, intent and event), what is
still open, the ETA, the closing and the push, and every event of the night (the engine's and
the autopilot's decisions). Read only: the ledger is opened ``mode=ro`` for the rows the
:class:`osa_core.track.ledger.Ledger` API does not hand out with their user. Rendered by
:mod:`osa_core.publish.handover_page` as Markdown or HTML.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from osa_core.model.closestate import ClosingJob, RunClose
from osa_core.model.layout import NightLayout
from osa_core.model.snapshot import NightSnapshot, SubrunKey, job_label, usage_summary
from osa_core.model.states import JobState, SequenceType
from osa_core.track.closing_jobs import closing_jobs
from osa_core.track.eta import Eta, estimate
from osa_core.track.signatures import failure_groups

REPORT_NAME = "handover.html"
"""The report's file name beside the night page (``dl1/YYYYMMDD/<prod_id>/handover.html``)."""


@dataclass(frozen=True, slots=True)
class Deed:
    """Something a person or the engine did: a resubmission, a cancel, an event."""

    time: dt.datetime | None
    kind: str
    what: str
    user: str
    """The OS user of the process that did it; empty when the ledger predates schema 5."""


@dataclass(frozen=True, slots=True)
class FailureLine:
    summary: str
    """``14 x OUT_OF_MEMORY in r0_to_dl1 (12 on node cp23): <message>``."""
    members: tuple[str, ...]
    """``01875.0003`` for each failed subrun of the group."""


@dataclass(frozen=True, slots=True)
class RunLine:
    run: int
    type: str
    state: JobState
    done: int
    failed: int
    active: int
    subruns: int
    tries: int


@dataclass(frozen=True, slots=True)
class Handover:
    date: dt.date
    taken_at: dt.datetime
    backend: str
    totals: Mapping[JobState, int]
    runs: tuple[RunLine, ...]
    failures: tuple[FailureLine, ...]
    resubmissions: tuple[Deed, ...]
    cancelled: tuple[str, ...]
    """``01875.0002`` of each subrun whose latest attempt was cancelled."""
    excluded: tuple[str, ...]
    """Runs a forced closing left out, with why."""
    still_open: tuple[str, ...]
    eta: Eta
    closing: str
    pushed_at: dt.datetime | None
    push_known: bool
    """False in the report that is itself being pushed: its push time would change it at every push."""
    efficiency: tuple[str, ...]
    events: tuple[Deed, ...] = field(default_factory=tuple)
    closing_jobs: tuple[ClosingJob, ...] = ()
    """Each run's merge job and the night-wise job, with their steps (track/closing_jobs.py)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """The profile's step labels (``Merge DL1``)."""


def subrun_name(snapshot: NightSnapshot, key: SubrunKey) -> str:
    return f"{snapshot.sequence(key[0]).run:05d}.{key[1]:04d}"


def gather(snapshot: NightSnapshot, layout: NightLayout, manifest: Path | None) -> Handover:
    """The handover of the night as the snapshot and the ledger show it; ``manifest``: the push's
    manifest (:func:`osa_core.publish.publisher.manifest_path`), which says when it pushed (None:
    leave the push out). Its time is the ledger's last change, not now: the same night gives the
    same report, and a push uploads it again only when something changed."""
    labels = snapshot.step_labels
    rows = _ledger_rows(layout.ledger_path)
    changes = [d.time for d in rows.events if d.time] + [_time(r[4]) for r in rows.submissions]
    changes += [
        t for s in snapshot.sequences for r in snapshot.subruns.get(s.seq, ()) for t in (r.start, r.end)
    ]
    now = max((t for t in changes if t is not None), default=snapshot.taken_at)
    failures = tuple(
        FailureLine(group.describe(labels), tuple(subrun_name(snapshot, key) for key in group.members))
        for group in failure_groups(snapshot)
    )
    runs = tuple(
        RunLine(
            s.run, s.type.value, s.state, s.completed, s.failed, s.running + s.pending, s.subruns, s.tries
        )
        for s in snapshot.sequences
    )
    cancelled = tuple(
        subrun_name(snapshot, r.key)
        for s in snapshot.sequences
        for r in snapshot.subruns.get(s.seq, ())
        if r.state is JobState.CANCELLED
    )
    return Handover(
        date=snapshot.date,
        taken_at=now,
        backend=snapshot.backend,
        totals=snapshot.totals,
        runs=runs,
        failures=failures,
        resubmissions=tuple(_resubmissions(rows.submissions, snapshot)),
        cancelled=cancelled,
        excluded=rows.excluded,
        still_open=tuple(_still_open(snapshot, rows.open_intents)),
        eta=estimate(snapshot, snapshot.taken_at),
        closing=snapshot.closing or "not started",
        pushed_at=_pushed_at(manifest) if manifest is not None else None,
        push_known=manifest is not None,
        efficiency=tuple(_efficiency(snapshot)),
        events=rows.events,
        closing_jobs=closing_jobs(layout, list(rows.closing_runs)),
        labels=labels,
    )


@dataclass(frozen=True, slots=True)
class _Rows:
    submissions: list[tuple[int, str | None, str | None, str, str, str | None]]
    events: tuple[Deed, ...]
    open_intents: tuple[Deed, ...]
    excluded: tuple[str, ...]
    closing_runs: tuple[int, ...] = ()


def _ledger_rows(path: Path) -> _Rows:
    """Submissions, events, open intents and excluded runs with their users (read-only)."""
    db = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True, timeout=30.0)
    try:
        users = {r[1] for r in db.execute("PRAGMA table_info(events)")}
        user = "COALESCE(user, '')" if "user" in users else "''"  # a ledger before schema 5
        submissions = db.execute(
            f"SELECT seq, job_id, indices, attempts, submitted_at, {user} FROM submissions"
            " WHERE status = 'submitted' ORDER BY id"
        ).fetchall()
        events = tuple(
            Deed(_time(t), kind, message, who)
            for t, kind, message, who in db.execute(
                f"SELECT time, kind, message, {user} FROM events ORDER BY id"
            )
        )
        intents = tuple(
            Deed(_time(t), kind, payload, who)
            for t, kind, payload, who in db.execute(
                f"SELECT begun_at, kind, payload, {user} FROM intents WHERE status = 'open' ORDER BY id"
            )
        )
        excluded = tuple(
            f"run {run:05d}: {reason or 'left out by a forced closing'}"
            for run, reason in db.execute(
                "SELECT run, reason FROM closing_runs WHERE state = ? ORDER BY run",
                (RunClose.EXCLUDED.value,),
            )
        )
        closing_runs = tuple(run for (run,) in db.execute("SELECT run FROM closing_runs ORDER BY run"))
    finally:
        db.close()
    return _Rows(submissions, events, intents, excluded, closing_runs)


def _resubmissions(
    rows: list[tuple[int, str | None, str | None, str, str, str | None]], snapshot: NightSnapshot
) -> list[Deed]:
    """Submissions of a second or later attempt: which subruns, which attempt, when, by whom."""
    out = []
    runs = {s.seq: s for s in snapshot.sequences}
    for seq, job_id, indices_json, attempts_json, at, user in rows:
        attempts = json.loads(attempts_json)
        if not attempts or max(attempts) < 2 or seq not in runs:
            continue
        indices = json.loads(indices_json) if indices_json else [0]
        sequence = runs[seq]
        if sequence.type is SequenceType.CALIBRATION:
            what = f"calibration run {sequence.run:05d}"
        else:
            what = f"run {sequence.run:05d} subruns " + ", ".join(f"{i:04d}" for i in indices)
        what += f" as attempt {max(attempts)} (job {job_id})"
        out.append(Deed(_time(at), "resubmit", what, user or ""))
    return out


def _still_open(snapshot: NightSnapshot, intents: tuple[Deed, ...]) -> list[str]:
    totals = snapshot.totals
    out = []
    for state, words in (
        (JobState.RUNNING, "running"),
        (JobState.PENDING, "pending in the queue"),
        (JobState.BLOCKED, "blocked on a failed calibration (resubmit the calibration)"),
        (JobState.NOT_SUBMITTED, "never submitted"),
    ):
        if totals.get(state):
            out.append(f"{totals[state]} subruns {words}")
    failed = sum(n for state, n in totals.items() if state.failed)
    if failed:
        out.append(f"{failed} subruns failed and not resubmitted yet")
    for intent in intents:
        out.append(
            f"an unfinished {intent.kind} begun by {intent.user or 'unknown'}: the next command completes it"
        )
    return out


def _efficiency(snapshot: NightSnapshot) -> list[str]:
    out = []
    for kind in SequenceType:
        seqs = [s.seq for s in snapshot.sequences if s.type is kind]
        summary = usage_summary(r for seq in seqs for r in snapshot.subruns.get(seq, ()))
        if summary is not None:
            out.append(
                summary.line(
                    f"{kind.value.lower()}: "
                    + job_label(snapshot.step_names.get(kind, ()), snapshot.step_labels)
                )
            )
            advice = summary.advice()
            if advice:
                out.append(f"advice ({kind.value.lower()}): {advice}")
    return out


def _pushed_at(manifest: Path) -> dt.datetime | None:
    """When the datacheck was last pushed: the manifest's time, if it lists a file."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not data.get("files"):
            return None
        return dt.datetime.fromtimestamp(manifest.stat().st_mtime, dt.UTC)
    except (OSError, ValueError):
        return None


def _time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
