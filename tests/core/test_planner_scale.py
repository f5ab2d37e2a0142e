"""The planner on nights it must warn about or that are large: far-dated runs, tens of thousands
of lines (issue 10, items 10 and 11). Results are checked, never times (speed is in bench/)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from osa_core.model.states import SequenceType
from osa_core.plan.planner import plan_file

NIGHT = dt.date(2020, 1, 27)
EVENING = dt.datetime(2020, 1, 27, 18)
ALLOWED = 4_000_000  # bytes: just under the reader's limit (nightfile.MAX_NIGHT_BYTES, 4 MiB)
LINE = "{run:05d} {n:4d} {kind} {when:%Y-%m-%d %H:%M:%S} 0001 1580154753739954334 5739954100 nan nan nan"


def night_file(tmp_path: Path, specs: list[tuple[int, int, str, dt.datetime]]) -> Path:
    path = tmp_path / "NightSummary_20200127.txt"
    path.write_text("".join(LINE.format(run=r, n=n, kind=k, when=w) + "\n" for r, n, k, w in specs))
    return path


def test_runs_dated_far_from_the_night_are_a_problem(tmp_path: Path) -> None:
    path = night_file(
        tmp_path,
        [
            (1, 5, "DRS4", EVENING),
            (2, 5, "CALI", EVENING),
            (3, 5, "DATA", dt.datetime(2021, 6, 3, 22)),  # another night's run
            (4, 5, "DATA", dt.datetime(2020, 1, 28, 11, 59)),  # dawn: still tonight
        ],
    )
    plan = plan_file(path)
    assert len(plan.sequences) == 3  # planned as before: a warning, not a refusal
    assert plan.problems == (
        "1 run(s) (3) did not start during the night of 2020-01-27 (2020-01-27 12:00 to 2020-01-28 "
        "12:00 UTC): is this the night's file, and the right date?",
    )


def test_an_explicit_wrong_date_is_a_problem(seed_night: Path) -> None:
    plan = plan_file(seed_night, explicit_date=dt.date(2020, 3, 1))
    assert len(plan.problems) == 1
    assert plan.problems[0].startswith("10 run(s) (1872, 1873, ")


def test_the_night_boundary_hour_moves_the_window(tmp_path: Path) -> None:
    path = night_file(tmp_path, [(1, 5, "DRS4", EVENING), (2, 5, "CALI", dt.datetime(2020, 1, 28, 13))])
    assert plan_file(path, boundary_hour=12).problems != ()
    assert plan_file(path, boundary_hour=14).problems == ()


def big_night(tmp_path: Path, target: int) -> tuple[Path, int]:
    """A NightSummary of just under ``target`` bytes: a calibration pair every 50 runs."""
    lines: list[str] = []
    size, run = 0, 0
    while True:
        kind = {0: "DRS4", 1: "CALI"}.get(run % 50, "DATA")
        when = EVENING + dt.timedelta(seconds=run)
        line = LINE.format(run=run + 1, n=100, kind=kind, when=when) + "\n"
        if size + len(line) > target:
            break
        lines.append(line)
        size += len(line)
        run += 1
    path = tmp_path / "NightSummary_20200127.txt"
    path.write_text("".join(lines))
    return path, run


def test_a_large_but_allowed_file_is_planned_whole(tmp_path: Path) -> None:
    """A 4 MiB file (~45,000 runs) used to take minutes: the planner was quadratic in places."""
    path, runs = big_night(tmp_path, ALLOWED)
    plan = plan_file(path)
    pairs = (runs + 49) // 50
    assert len(plan.calibrations) == pairs
    assert len(plan.data) == runs - 2 * pairs
    assert plan.skipped == () and plan.problems == ()
    # each data run hangs on the calibration taken just before it, numbered in time order
    last = plan.data[-1]
    parent = plan.by_seq(last.parent) if last.parent is not None else None
    assert parent is not None and parent.type is SequenceType.CALIBRATION
    assert parent.run == (runs - 1) // 50 * 50 + 2
    assert [s.seq for s in plan.sequences] == list(range(len(plan.sequences)))
