"""Runs -> sequences: the night date and the plan, as pure functions of the runs.

The rules are those of issue 2 (see ``docs/nights-and-planning.md``). Sequence numbers follow
lstosa's ``extractsequences``/``generateworkflow``: one counter over the night in time order, a
calibration sequence taking its number where its PEDCALIB run was taken, and DATA runs taken
before the first calibration numbered right after it. A parent therefore always has a smaller
``seq`` than its children, and for the usual one-calibration night the calibration is seq 0.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path, PurePath

from osa_core.model.errors import InputError, PlanError
from osa_core.model.records import Plan, Run, Sequence, SkippedRun
from osa_core.model.states import RunType, SequenceType
from osa_core.plan.nightfile import read_night_file

_FILE_DATE = re.compile(r"(?:NightSummary|RunSummary)_(\d{8})\.(?:txt|ecsv)")

Pair = tuple[Run, Run]  # (DRS4, PEDCALIB)


def night_date(
    runs: Iterable[Run],
    *,
    explicit: dt.date | None,
    filename: str | None,
    date_hint: dt.date | None,
    boundary_hour: int = 12,
) -> dt.date:
    """The date on which the night starts.

    In order: ``explicit`` (``--date``), the date in a ``NightSummary_YYYYMMDD.txt`` or
    ``RunSummary_YYYYMMDD.ecsv`` file name, the RunSummary's ``meta`` date, and last the first
    run: a run started before ``boundary_hour`` UTC was taken after midnight, so it belongs to
    the night that started on the previous date.
    """
    if explicit is not None:
        return explicit
    if filename is not None:
        found = _FILE_DATE.fullmatch(PurePath(filename).name)
        if found:
            try:
                return dt.datetime.strptime(found.group(1), "%Y%m%d").date()
            except ValueError:
                raise InputError(
                    f"file name date {found.group(1)} is not a valid YYYYMMDD date; "
                    "rename the file or give the night with --date YYYY-MM-DD",
                    path=filename,
                )
    if date_hint is not None:
        return date_hint
    if not 0 <= boundary_hour <= 23:
        raise PlanError(f"night boundary hour must be 0..23, got {boundary_hour}")
    ordered = _ordered(runs)
    if not ordered:
        raise InputError(
            "cannot tell the night date: no --date, no date in the file name and no runs", path=filename
        )
    start = _utc(ordered[0].start)
    try:
        return start.date() - dt.timedelta(days=1) if start.hour < boundary_hour else start.date()
    except OverflowError:
        raise InputError(
            f"cannot tell the night date from run {ordered[0].run} starting {start:%Y-%m-%d %H:%M}; "
            "give it with --date YYYY-MM-DD",
            path=filename,
            line=ordered[0].line,
        )


def plan_night(runs: Iterable[Run], date: dt.date) -> Plan:
    """The sequences of the night, the runs left out (each with a reason) and the problems."""
    ordered = _ordered(runs)
    _refuse_duplicates(ordered)
    skipped: dict[int, str] = {}
    usable: list[Run] = []
    for run in ordered:
        if run.subruns == 0:
            skipped[run.run] = "0 subruns: nothing was recorded"
        elif run.type is RunType.OTHER:
            skipped[run.run] = f"type {run.raw_type!r} is not analysed (only DRS4, CALI/PEDCALIB, DATA)"
        else:
            usable.append(run)
    position = {run.run: i for i, run in enumerate(usable)}
    data = [run for run in usable if run.type is RunType.DATA]

    pairs = _pairs(usable, skipped)
    live = _drop_superseded(pairs, data, position, skipped)
    parents = {d.run: _parent_pair(d, live, position) for d in data}
    used = [pair for pair in live if any(parent is pair for parent in parents.values())]
    for pair in live:
        if pair not in used:
            skipped[pair[1].run] = "no DATA run uses it (no DATA run after it)"
    _skip_unused_drs4(usable, pairs, used, skipped)

    sequences = _number(usable, used, data, parents, position)
    problems: list[str] = []
    orphans = [d.run for d in data if parents[d.run] is None]
    if orphans:
        problems.append(
            f"no usable calibration (a DRS4 run followed by a CALI/PEDCALIB run): {len(orphans)} DATA "
            f"run(s) ({_runs_text(orphans)}) planned without a parent; submitting them needs existing "
            "calibration files named in the configuration"
        )
    kept = tuple(SkippedRun(run.run, run.raw_type, skipped[run.run]) for run in ordered if run.run in skipped)
    return Plan(date=date, sequences=sequences, skipped=kept, problems=tuple(problems))


def plan_file(path: Path, *, explicit_date: dt.date | None = None, boundary_hour: int = 12) -> Plan:
    """Read a night file, choose its date and plan it (the one function the CLI needs)."""
    night = read_night_file(Path(path))
    date = night_date(
        night.runs,
        explicit=explicit_date,
        filename=str(night.path),
        date_hint=night.date_hint,
        boundary_hour=boundary_hour,
    )
    return dataclasses.replace(plan_night(night.runs, date), source=str(night.path))


def _utc(moment: dt.datetime) -> dt.datetime:
    # Run.start is meant to be aware; a naive one is read as UTC, never as the local time.
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _ordered(runs: Iterable[Run]) -> list[Run]:
    return sorted(runs, key=lambda run: (_utc(run.start), run.run))


def _refuse_duplicates(ordered: list[Run]) -> None:
    first: dict[int, Run] = {}
    for run in ordered:
        if run.run in first:
            raise PlanError(
                f"duplicate run number {run.run} (lines {first[run.run].line} and {run.line})",
                line=run.line,
            )
        first[run.run] = run


def _pairs(usable: list[Run], skipped: dict[int, str]) -> list[Pair]:
    """Each PEDCALIB with the latest DRS4 before it; a PEDCALIB with none is skipped."""
    pairs: list[Pair] = []
    last_drs4: Run | None = None
    for run in usable:
        if run.type is RunType.DRS4:
            last_drs4 = run
        elif run.type is RunType.PEDCALIB:
            if last_drs4 is None:
                skipped[run.run] = "no DRS4 run before it: its calibration would have no baseline"
            else:
                pairs.append((last_drs4, run))
    return pairs


def _drop_superseded(
    pairs: list[Pair], data: list[Run], position: dict[int, int], skipped: dict[int, str]
) -> list[Pair]:
    """A PEDCALIB followed by another before any DATA run was retaken: only the later one counts."""
    live: list[Pair] = []
    for index, here in enumerate(pairs):
        after = pairs[index + 1] if index + 1 < len(pairs) else None
        if after is not None and not any(
            position[here[1].run] < position[d.run] < position[after[1].run] for d in data
        ):
            skipped[here[1].run] = f"superseded by PEDCALIB run {after[1].run} taken before any DATA run"
        else:
            live.append(here)
    return live


def _parent_pair(data_run: Run, live: list[Pair], position: dict[int, int]) -> Pair | None:
    before = [pair for pair in live if position[pair[1].run] < position[data_run.run]]
    if before:
        return before[-1]
    # DATA taken before the night's first calibration is calibrated with that first one.
    return live[0] if live else None


def _skip_unused_drs4(
    usable: list[Run], pairs: list[Pair], used: list[Pair], skipped: dict[int, str]
) -> None:
    for index, run in enumerate(usable):
        if run.type is not RunType.DRS4 or any(pair[0] is run for pair in used):
            continue
        partners = [pair[1].run for pair in pairs if pair[0] is run]
        if partners:
            skipped[run.run] = f"unused DRS4: its PEDCALIB run(s) {_runs_text(partners)} are not used"
            continue
        # Unpaired, so the next calibration-type run (if any) is another DRS4 that replaced it.
        follower = next((r for r in usable[index + 1 :] if r.type is RunType.DRS4), None)
        if follower is not None:
            skipped[run.run] = f"unused DRS4: superseded by DRS4 run {follower.run} before any PEDCALIB run"
        else:
            skipped[run.run] = "unused DRS4: no PEDCALIB run after it"


def _number(
    usable: list[Run],
    used: list[Pair],
    data: list[Run],
    parents: dict[int, Pair | None],
    position: dict[int, int],
) -> tuple[Sequence, ...]:
    """Number the sequences in lstosa's order (see the module docstring)."""
    first = position[used[0][1].run] if used else None
    keyed: list[tuple[tuple[int, int, int], Run, Pair | None]] = []
    for pair in used:
        keyed.append(((position[pair[1].run], 0, 0), pair[1], pair))
    for run in data:
        here = position[run.run]
        pending = first is not None and here < first
        key = (first, 1, here) if pending and first is not None else (here, 0, 0)
        keyed.append((key, run, None))
    keyed.sort(key=lambda item: item[0])
    seq_of_pedcalib: dict[int, int] = {}
    sequences: list[Sequence] = []
    for seq, (_, run, own_pair) in enumerate(keyed):
        if own_pair is not None:
            seq_of_pedcalib[run.run] = seq
            sequences.append(
                Sequence(seq, SequenceType.CALIBRATION, run.run, run.subruns, drs4_run=own_pair[0].run)
            )
        else:
            parent_pair = parents[run.run]
            parent = seq_of_pedcalib[parent_pair[1].run] if parent_pair is not None else None
            sequences.append(Sequence(seq, SequenceType.DATA, run.run, run.subruns, parent=parent))
    return tuple(sequences)


def _runs_text(runs: list[int]) -> str:
    shown = ", ".join(str(run) for run in runs[:10])
    return shown + (f", ... ({len(runs)} in all)" if len(runs) > 10 else "")
