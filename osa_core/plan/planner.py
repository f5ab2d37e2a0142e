"""Runs -> sequences: the night date and the plan, as pure functions of the runs.

The rules are those of issue 2 (see ``docs/nights-and-planning.md``). Sequence numbers follow
lstosa's ``extractsequences``/``generateworkflow``: one counter over the night in time order, a
calibration sequence taking its number where its PEDCALIB run was taken, and DATA runs taken
before the first calibration numbered right after it. A parent therefore always has a smaller
``seq`` than its children, and for the usual one-calibration night the calibration is seq 0.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path, PurePath

from osa_core.model.config import Config
from osa_core.model.errors import InputError, PlanError
from osa_core.model.layout import NightLayout
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


def plan_night(runs: Iterable[Run], date: dt.date, *, boundary_hour: int = 12) -> Plan:
    """The sequences of the night, the runs left out (each with a reason) and the problems.

    Linear in the number of runs but for sorting (a night file may have tens of thousands of
    lines before the reader refuses it).
    """
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
    parents = _parent_pairs(data, live, position)
    parent_ids = {id(pair) for pair in parents.values() if pair is not None}
    used = [pair for pair in live if id(pair) in parent_ids]
    for pair in live:
        if id(pair) not in parent_ids:
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
    problems.extend(_outside_night(ordered, date, boundary_hour))
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
    plan = plan_night(night.runs, date, boundary_hour=boundary_hour)
    return dataclasses.replace(plan, source=str(night.path))


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
    data_at = [position[d.run] for d in data]  # ascending: data keeps the night's order
    live: list[Pair] = []
    for index, here in enumerate(pairs):
        after = pairs[index + 1] if index + 1 < len(pairs) else None
        if after is not None and not _any_between(data_at, position[here[1].run], position[after[1].run]):
            skipped[here[1].run] = f"superseded by PEDCALIB run {after[1].run} taken before any DATA run"
        else:
            live.append(here)
    return live


def _any_between(ascending: list[int], low: int, high: int) -> bool:
    """Whether some value lies strictly between ``low`` and ``high``."""
    return bisect.bisect_left(ascending, high) > bisect.bisect_right(ascending, low)


def _parent_pairs(data: list[Run], live: list[Pair], position: dict[int, int]) -> dict[int, Pair | None]:
    """Each DATA run's calibration: the last live pair whose PEDCALIB was taken before it.

    DATA taken before the night's first calibration is calibrated with that first one.
    """
    live_at = [position[pair[1].run] for pair in live]  # ascending: pairs keep the night's order
    parents: dict[int, Pair | None] = {}
    for run in data:
        before = bisect.bisect_left(live_at, position[run.run])
        parents[run.run] = live[before - 1] if before else (live[0] if live else None)
    return parents


def _skip_unused_drs4(
    usable: list[Run], pairs: list[Pair], used: list[Pair], skipped: dict[int, str]
) -> None:
    used_drs4 = {id(pair[0]) for pair in used}
    partners: dict[int, list[int]] = {}
    for drs4, pedcalib in pairs:
        partners.setdefault(id(drs4), []).append(pedcalib.run)
    next_drs4: Run | None = None  # walking backwards: the next DRS4 after the current run
    for run in reversed(usable):
        if run.type is not RunType.DRS4:
            continue
        follower, next_drs4 = next_drs4, run
        if id(run) in used_drs4:
            continue
        if id(run) in partners:
            used_by = _runs_text(partners[id(run)])
            skipped[run.run] = f"unused DRS4: its PEDCALIB run(s) {used_by} are not used"
        # Unpaired, so the next calibration-type run (if any) is another DRS4 that replaced it.
        elif follower is not None:
            skipped[run.run] = f"unused DRS4: superseded by DRS4 run {follower.run} before any PEDCALIB run"
        else:
            skipped[run.run] = "unused DRS4: no PEDCALIB run after it"


def _outside_night(ordered: list[Run], date: dt.date, boundary_hour: int) -> list[str]:
    """Runs that did not start during the night: another night's file, or the wrong date."""
    start = dt.datetime.combine(date, dt.time(boundary_hour % 24), tzinfo=dt.UTC)
    try:
        end = start + dt.timedelta(days=1)
    except OverflowError:  # the night of 9999-12-31: no run can be checked against it
        return []
    outside = [run.run for run in ordered if not start <= _utc(run.start) < end]
    if not outside:
        return []
    return [
        f"{len(outside)} run(s) ({_runs_text(outside)}) did not start during the night of {date} "
        f"({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC): is this the night's file, and the "
        "right date?"
    ]


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


def configured_plan(config: Config, layout: NightLayout) -> Plan:
    """The night's plan from its configured night file, with the simulate profile's subrun cap."""
    plan = plan_file(
        layout.night_summary, explicit_date=layout.date, boundary_hour=config.night.day_boundary_hour
    )
    cap = config.pipeline.simulate.max_subruns
    if config.pipeline.profile == "simulate" and cap > 0:
        capped = tuple(
            s if s.is_calibration else dataclasses.replace(s, subruns=min(s.subruns, cap))
            for s in plan.sequences
        )
        plan = dataclasses.replace(plan, sequences=capped)
    return plan
