"""The nights of a state directory, each summed up from its ledger without asking the scheduler.

``osa-core nights`` lists them. A ledger is opened read-only (``mode=ro``: a missing one is never
created) for a few aggregate queries, so a year of nights lists in well under a second. Only a
night with subruns still to run is read whole (still read-only) and folded by
:class:`NightState`, to estimate its end as its last refresh left it. A ledger that cannot be
read, or from another schema, is a row that says so, never an exception.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from osa_core.model.records import Sequence
from osa_core.model.snapshot import NightSnapshot, SchedulerHealth
from osa_core.model.states import JobState, SequenceType
from osa_core.track.eta import Eta, estimate
from osa_core.track.frame import Frame, Profile
from osa_core.track.hold import HOLD_META, parse_hold
from osa_core.track.ledger import SCHEMA_VERSION, StepRow, TaskRow
from osa_core.track.tracking import NightState

READABLE_SCHEMA = 2
"""The oldest ledger schema a listing reads without upgrading it (the closing's tables came in 2)."""
INCIDENTS_SCHEMA = 5
"""The schema that brought the alerts' incidents: an older ledger has none open."""

_NIGHT_DIR = re.compile(r"^\d{8}$")
# Every task row by state, in one pass over the table; whether any subrun was resubmitted.
_ALL_STATES = "SELECT state, COUNT(*), SUM(attempt > 1) FROM tasks GROUP BY state"
# The rows a later attempt replaced (attempts of a subrun are numbered 1, 2, ...), found from the
# few later attempts through the primary key: cheaper than grouping every row by subrun.
_REPLACED_STATES = (
    "SELECT old.state, COUNT(*) FROM tasks AS new JOIN tasks AS old ON old.seq = new.seq"
    " AND old.subrun = new.subrun AND old.attempt = new.attempt - 1 WHERE new.attempt > 1 GROUP BY old.state"
)


@dataclass(frozen=True, slots=True)
class NightSummary:
    """One night as its ledger shows it."""

    date: dt.date
    ledger: Path
    problem: str | None = None
    """Why the ledger could not be read (then the counts are zero)."""
    runs: int = 0
    """Data runs (sequences of data)."""
    subruns: int = 0
    """Tasks of the night: every data subrun and each calibration."""
    states: Mapping[JobState, int] = field(default_factory=dict)
    """Latest state of every task, NOT_SUBMITTED for those never submitted."""
    closed_at: dt.datetime | None = None
    pushed_at: dt.datetime | None = None
    """When the datacheck was last pushed (its push manifest was written)."""
    as_of: dt.datetime | None = None
    """When the ledger was last written: what the night looked like at its last refresh."""
    eta: Eta | None = None
    """Only for a night with subruns left to run."""
    alerts: int = 0
    """Incidents open in the night's ledger (``osa-core alerts``)."""
    hold: str | None = None
    """A person's hold on the night (``osa-core hold``), in words."""

    @property
    def done(self) -> int:
        return self.states.get(JobState.COMPLETED, 0)

    @property
    def failed(self) -> int:
        return sum(n for state, n in self.states.items() if state.failed)

    @property
    def running(self) -> int:
        return self.states.get(JobState.RUNNING, 0)

    @property
    def waiting(self) -> int:
        return sum(
            n for state, n in self.states.items() if state.active and state is not JobState.RUNNING
        ) + (self.states.get(JobState.NOT_SUBMITTED, 0) + self.states.get(JobState.UNKNOWN, 0))

    @property
    def finished(self) -> bool:
        """Nothing left to run (failures may remain)."""
        return self.problem is None and self.subruns > 0 and self.running == 0 and self.waiting == 0

    def to_json(self) -> dict[str, object]:
        return {
            "date": self.date.isoformat(),
            "ledger": str(self.ledger),
            "problem": self.problem,
            "runs": self.runs,
            "subruns": self.subruns,
            "done": self.done,
            "failed": self.failed,
            "running": self.running,
            "waiting": self.waiting,
            "states": {state.value: n for state, n in self.states.items()},
            "finished": self.finished,
            "closed": self.closed_at is not None,
            "closed_at": _iso(self.closed_at),
            "pushed": self.pushed_at is not None,
            "pushed_at": _iso(self.pushed_at),
            "as_of": _iso(self.as_of),
            "eta": self.eta.to_json() if self.eta is not None else None,
            "alerts": self.alerts,
            "hold": self.hold,
        }


def night_dirs(state_root: Path) -> tuple[dict[dt.date, Path], list[str]]:
    """Night directories (``YYYYMMDD``) under the state directory, and names that look like one
    but are no date."""
    found: dict[dt.date, Path] = {}
    bad: list[str] = []
    try:
        entries = sorted(state_root.iterdir())
    except FileNotFoundError:
        return {}, []
    for entry in entries:
        if not _NIGHT_DIR.match(entry.name) or not entry.is_dir():
            continue
        try:
            found[dt.datetime.strptime(entry.name, "%Y%m%d").date()] = entry
        except ValueError:
            bad.append(f"{entry}: not a night's date")
    return found, bad


def summarise(
    date: dt.date, ledger: Path, push_manifest: Path, profile: Profile | None, backend: str = ""
) -> NightSummary:
    """The night's summary; with ``profile``, the ETA of a night that has subruns left."""
    try:
        summary = _read(date, ledger)
    except (sqlite3.Error, ValueError) as exc:  # not SQLite, cut short, a column of another schema
        return NightSummary(date, ledger, problem=f"{ledger}: the ledger cannot be read: {exc}")
    if summary.problem is None:
        summary = _with_push(summary, push_manifest)
    if profile is not None and summary.problem is None and not summary.finished and summary.subruns:
        try:
            snapshot = ledger_snapshot(date, ledger, profile, backend, summary.as_of)
        except (sqlite3.Error, ValueError) as exc:
            return replace(summary, problem=f"{ledger}: the ledger cannot be read: {exc}")
        summary = replace(summary, eta=estimate(snapshot))
    return summary


def ledger_snapshot(
    date: dt.date, path: Path, profile: Profile, backend: str, at: dt.datetime | None
) -> NightSnapshot:
    """The night as the ledger holds it (its last refresh), read-only, folded by :class:`NightState`."""
    db = _connect(path)
    try:
        sequences = [
            Sequence(r[0], SequenceType(r[1]), r[2], r[3], r[4], r[5])
            for r in db.execute(
                "SELECT seq, type, run, subruns, parent, drs4_run FROM sequences ORDER BY seq"
            )
        ]
        tasks = [
            TaskRow(
                r[0], r[1], r[2], r[3], r[4], _state(r[5]), r[6], r[7], r[8], _dt(r[9]), _dt(r[10]), r[11]
            )
            for r in db.execute(
                "SELECT seq, subrun, attempt, job_id, array_index, state, exit_code, signal, node, start,"
                " end, reason FROM tasks ORDER BY seq, subrun, attempt"
            )
        ]
        steps = [
            StepRow(r[0], r[1], r[2], r[3], _dt(r[4]), _dt(r[5]), r[6], bool(r[7]), r[8], r[9], r[10])
            for r in db.execute(
                "SELECT seq, subrun, attempt, step, start, end, exit_code, skipped, host, job_id, detail"
                " FROM steps ORDER BY seq, subrun, attempt, rowid"
            )
        ]
    finally:
        db.close()
    at = at or dt.datetime.now(dt.UTC)
    frame = Frame(date, backend, profile, SchedulerHealth(ok=True, last_ok=at), at)
    return NightState(sequences, tasks, steps).snapshot(frame, None)


def _connect(path: Path) -> sqlite3.Connection:
    """Read-only: a missing file is an error, never a new ledger; nothing is written or checkpointed."""
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=10.0)


def _state(value: str) -> JobState:
    try:
        return JobState(value)
    except ValueError:
        return JobState.UNKNOWN


def _read(date: dt.date, path: Path) -> NightSummary:
    if not path.is_file():
        return NightSummary(date, path, problem=f"{path}: no ledger: the night was never submitted here")
    written = _written(path)  # before opening: a read-only open of a WAL ledger touches its -wal file
    db = _connect(path)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if not READABLE_SCHEMA <= version <= SCHEMA_VERSION:
            return NightSummary(date, path, problem=_schema_problem(path, date, version))
        sequences = db.execute(
            "SELECT COUNT(*), SUM(CASE WHEN type = 'DATA' THEN subruns ELSE 1 END),"
            " SUM(type = 'DATA') FROM sequences"
        ).fetchone()
        states: dict[JobState, int] = {}
        retried = 0
        for state, n, later in db.execute(_ALL_STATES):
            states[_state(state)] = states.get(_state(state), 0) + n
            retried += later or 0
        if retried:
            for state, n in db.execute(_REPLACED_STATES):
                states[_state(state)] -= n
            states = {state: n for state, n in states.items() if n}
        subruns = int(sequences[1] or 0)
        unsubmitted = subruns - sum(states.values())
        if unsubmitted > 0:
            states[JobState.NOT_SUBMITTED] = unsubmitted
        closed = db.execute("SELECT finished FROM closings ORDER BY id DESC LIMIT 1").fetchone()
        alerts = 0
        if version >= INCIDENTS_SCHEMA:
            alerts = db.execute("SELECT COUNT(*) FROM incidents WHERE resolved_at IS NULL").fetchone()[0]
        hold = db.execute("SELECT value FROM meta WHERE key = ?", (HOLD_META,)).fetchone()
    finally:
        db.close()
    return NightSummary(
        date,
        path,
        runs=int(sequences[2] or 0),
        subruns=subruns,
        states=states,
        closed_at=_dt(closed[0]) if closed else None,
        as_of=written,
        alerts=int(alerts),
        hold=parse_hold(hold[0]).describe() if hold and hold[0] else None,
    )


def _schema_problem(path: Path, date: dt.date, version: int) -> str:
    if version > SCHEMA_VERSION:
        return (
            f"{path}: the ledger has schema {version}, newer than this program's {SCHEMA_VERSION}: "
            "use the newer osa-core"
        )
    if version == 0:
        return f"{path}: not a night ledger (no schema)"
    # older than the closing's tables: its counts cannot be read without upgrading it
    return (
        f"{path}: the ledger has schema {version}, older than this program's {SCHEMA_VERSION}: "
        f"`osa-core status --date {date.isoformat()}` upgrades it"
    )


def _with_push(summary: NightSummary, manifest: Path) -> NightSummary:
    """Pushed: the push manifest lists at least one file (written after each push that uploaded)."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if not data.get("files"):
            return summary
        at = dt.datetime.fromtimestamp(manifest.stat().st_mtime, dt.UTC)
    except (OSError, ValueError, AttributeError):
        return summary
    return replace(summary, pushed_at=at)


def _written(path: Path) -> dt.datetime | None:
    """The ledger's last write: WAL mode writes the ``-wal`` file first."""
    times = []
    for candidate in (path, path.with_name(path.name + "-wal")):
        try:
            times.append(candidate.stat().st_mtime)
        except OSError:
            continue
    return dt.datetime.fromtimestamp(max(times), dt.UTC) if times else None


def _dt(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
