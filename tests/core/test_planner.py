"""The planner's rules (issue 2, item 4), the night date, and the Rich table of a plan.

Nights are written as real NightSummary files into tmp_path and read back, so each test goes
through the reader the CLI uses.
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from osa_core.cli.plan_table import plan_table
from osa_core.model.errors import InputError, PlanError
from osa_core.model.records import Plan, Run
from osa_core.model.states import RunType, SequenceType
from osa_core.plan.nightfile import read_night_file
from osa_core.plan.planner import night_date, plan_file, plan_night

CAL, DATA = SequenceType.CALIBRATION, SequenceType.DATA
NIGHT = dt.date(2020, 1, 27)


def night(tmp_path: Path, *runs: tuple[int, int, str, str], name: str = "NightSummary_20200127.txt") -> Path:
    """A NightSummary with (run, subruns, type, 'YYYY-MM-DD HH:MM:SS') lines."""
    lines = [f"{run:05d} {n:4d} {kind} {when} 0001 1 2 nan nan nan" for run, n, kind, when in runs]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def at(hhmm: str, day: int = 27) -> str:
    return f"2020-01-{day:02d} {hhmm}:00"


def rows(plan: Plan) -> list[tuple[int, SequenceType, int, int | None, int | None]]:
    """(seq, type, run, parent, drs4_run) of every sequence."""
    return [(s.seq, s.type, s.run, s.parent, s.drs4_run) for s in plan.sequences]


def reasons(plan: Plan) -> dict[int, str]:
    return {k.run: k.reason for k in plan.skipped}


# --- the reference nights (the "done when") -------------------------------------------


def test_seed_night_plan(seed_night: Path) -> None:
    plan = plan_file(seed_night)
    assert plan.date == NIGHT
    assert plan.source == str(seed_night)
    assert rows(plan)[0] == (0, CAL, 1873, None, 1872)
    assert [(s.seq, s.run, s.subruns, s.parent) for s in plan.data] == [
        (1, 1874, 194, 0),
        (2, 1875, 209, 0),
        (3, 1876, 225, 0),
        (4, 1877, 202, 0),
        (5, 1878, 74, 0),
        (6, 1879, 207, 0),
        (7, 1880, 203, 0),
        (8, 1881, 207, 0),
    ]
    assert plan.skipped == () and plan.problems == ()


def test_ecsv_night_plan(ecsv_night: Path) -> None:
    plan = plan_file(ecsv_night)
    assert plan.date == dt.date(2020, 1, 17)
    assert rows(plan) == [(0, CAL, 1806, None, 1804), (1, DATA, 1807, 0, None), (2, DATA, 1808, 0, None)]
    assert [s.subruns for s in plan.data] == [11, 9]
    assert reasons(plan) == {1805: "superseded by PEDCALIB run 1806 taken before any DATA run"}


def test_json_of_the_seed_plan(seed_night: Path) -> None:
    out = plan_file(seed_night).to_json()
    assert out["date"] == "2020-01-27"
    first = out["sequences"][0]  # type: ignore[index]
    assert first == {
        "seq": 0,
        "type": "CALIBRATION",
        "run": 1873,
        "drs4_run": 1872,
        "subruns": 5,
        "parent": None,
        "job_name": "LST1_01873",
    }


# --- the rules --------------------------------------------------------------------------------


def test_two_calibration_pairs_numbered_in_time_order(tmp_path: Path) -> None:
    plan = plan_file(
        night(
            tmp_path,
            (10, 5, "DRS4", at("20:00")),
            (11, 5, "CALI", at("20:10")),
            (12, 50, "DATA", at("20:20")),
            (13, 50, "DATA", at("20:40")),
            (14, 5, "DRS4", at("01:00", 28)),
            (15, 5, "PEDCALIB", at("01:10", 28)),
            (16, 50, "DATA", at("01:20", 28)),
        )
    )
    # As lstosa: one counter in time order, a calibration numbered where its PEDCALIB was taken.
    assert rows(plan) == [
        (0, CAL, 11, None, 10),
        (1, DATA, 12, 0, None),
        (2, DATA, 13, 0, None),
        (3, CAL, 15, None, 14),
        (4, DATA, 16, 3, None),
    ]
    assert plan.skipped == () and plan.problems == ()


def test_second_pedcalib_reuses_the_latest_drs4(tmp_path: Path) -> None:
    plan = plan_file(
        night(
            tmp_path,
            (1, 5, "DRS4", at("20:00")),
            (2, 5, "CALI", at("20:10")),
            (3, 9, "DATA", at("20:20")),
            (4, 5, "CALI", at("22:00")),
            (5, 9, "DATA", at("22:10")),
        )
    )
    assert rows(plan) == [
        (0, CAL, 2, None, 1),
        (1, DATA, 3, 0, None),
        (2, CAL, 4, None, 1),
        (3, DATA, 5, 2, None),
    ]


def test_data_before_the_first_calibration_uses_the_first_pair(tmp_path: Path) -> None:
    plan = plan_file(
        night(
            tmp_path,
            (1, 9, "DATA", at("19:00")),
            (2, 9, "DATA", at("19:30")),
            (3, 5, "DRS4", at("20:00")),
            (4, 5, "CALI", at("20:10")),
            (5, 9, "DATA", at("20:20")),
            (6, 5, "DRS4", at("22:00")),
            (7, 5, "CALI", at("22:10")),
            (8, 9, "DATA", at("22:20")),
        )
    )
    # The early runs are numbered right after their calibration, so a parent precedes its children.
    assert rows(plan) == [
        (0, CAL, 4, None, 3),
        (1, DATA, 1, 0, None),
        (2, DATA, 2, 0, None),
        (3, DATA, 5, 0, None),
        (4, CAL, 7, None, 6),
        (5, DATA, 8, 4, None),
    ]


def test_night_crossing_midnight(tmp_path: Path) -> None:
    path = night(
        tmp_path,
        (1, 5, "DRS4", at("23:40")),
        (2, 5, "CALI", at("23:50")),
        (3, 9, "DATA", at("00:05", 28)),
        (4, 9, "DATA", at("04:00", 28)),
        name="night.txt",
    )
    plan = plan_file(path)
    assert plan.date == NIGHT  # from the first run, 23:40 on the 27th
    assert rows(plan) == [(0, CAL, 2, None, 1), (1, DATA, 3, 0, None), (2, DATA, 4, 0, None)]


def test_night_whose_first_run_is_after_midnight_belongs_to_the_previous_date(tmp_path: Path) -> None:
    path = night(tmp_path, (1, 5, "DRS4", at("00:30", 28)), (2, 9, "DATA", at("01:00", 28)), name="x.txt")
    assert plan_file(path).date == NIGHT


def test_night_without_calibration(tmp_path: Path) -> None:
    plan = plan_file(night(tmp_path, (1, 9, "DATA", at("20:00")), (2, 9, "DATA", at("21:00"))))
    assert rows(plan) == [(0, DATA, 1, None, None), (1, DATA, 2, None, None)]
    [problem] = plan.problems
    assert "no usable calibration" in problem
    assert "2 DATA run(s) (1, 2) planned without a parent" in problem
    assert "calibration files named in the configuration" in problem


def test_pedcalib_without_drs4_before_it(tmp_path: Path) -> None:
    plan = plan_file(
        night(
            tmp_path,
            (1, 5, "CALI", at("19:00")),
            (2, 9, "DATA", at("19:30")),
            (3, 5, "DRS4", at("20:00")),
            (4, 5, "CALI", at("20:10")),
        )
    )
    assert rows(plan) == [(0, CAL, 4, None, 3), (1, DATA, 2, 0, None)]
    assert reasons(plan) == {1: "no DRS4 run before it: its calibration would have no baseline"}


def test_superseded_pedcalib_chain(tmp_path: Path) -> None:
    plan = plan_file(
        night(
            tmp_path,
            (1, 5, "DRS4", at("20:00")),
            (2, 5, "PEDCALIB", at("20:10")),
            (3, 5, "PEDCALIB", at("20:20")),
            (4, 5, "PEDCALIB", at("20:30")),
            (5, 9, "DATA", at("20:40")),
        )
    )
    assert rows(plan) == [(0, CAL, 4, None, 1), (1, DATA, 5, 0, None)]
    assert reasons(plan) == {
        2: "superseded by PEDCALIB run 3 taken before any DATA run",
        3: "superseded by PEDCALIB run 4 taken before any DATA run",
    }


def test_zero_subrun_runs_are_skipped(tmp_path: Path) -> None:
    plan = plan_file(
        night(
            tmp_path,
            (1, 5, "DRS4", at("20:00")),
            (2, 0, "CALI", at("20:10")),  # an empty calibration cannot calibrate anything
            (3, 0, "DATA", at("20:20")),
            (4, 9, "DATA", at("20:30")),
        )
    )
    assert rows(plan) == [(0, DATA, 4, None, None)]
    assert reasons(plan) == {
        1: "unused DRS4: no PEDCALIB run after it",
        2: "0 subruns: nothing was recorded",
        3: "0 subruns: nothing was recorded",
    }
    assert len(plan.problems) == 1


def test_error_and_edata_runs_are_skipped(tmp_path: Path) -> None:
    plan = plan_file(
        night(
            tmp_path,
            (1, 5, "DRS4", at("20:00")),
            (2, 5, "CALI", at("20:10")),
            (3, 9, "ERROR", at("20:20")),
            (4, 9, "EDATA", at("20:30")),
            (5, 9, "DATA", at("20:40")),
        )
    )
    assert [s.run for s in plan.sequences] == [2, 5]
    assert [(k.run, k.type) for k in plan.skipped] == [(3, "ERROR"), (4, "EDATA")]
    assert reasons(plan)[3] == "type 'ERROR' is not analysed (only DRS4, CALI/PEDCALIB, DATA)"
    assert "'EDATA'" in reasons(plan)[4]


def test_unused_drs4_runs(tmp_path: Path) -> None:
    plan = plan_file(
        night(
            tmp_path,
            (1, 5, "DRS4", at("20:00")),
            (2, 5, "DRS4", at("20:05")),
            (3, 5, "CALI", at("20:10")),
            (4, 9, "DATA", at("20:20")),
            (5, 5, "DRS4", at("05:00", 28)),
            (6, 5, "CALI", at("05:10", 28)),
            (7, 5, "DRS4", at("05:20", 28)),
        )
    )
    assert rows(plan) == [(0, CAL, 3, None, 2), (1, DATA, 4, 0, None)]
    assert reasons(plan) == {
        1: "unused DRS4: superseded by DRS4 run 2 before any PEDCALIB run",
        5: "unused DRS4: its PEDCALIB run(s) 6 are not used",
        6: "no DATA run uses it (no DATA run after it)",
        7: "unused DRS4: no PEDCALIB run after it",
    }


def test_calibration_only_night_has_no_sequences(tmp_path: Path) -> None:
    plan = plan_file(night(tmp_path, (1, 5, "DRS4", at("20:00")), (2, 5, "CALI", at("20:10"))))
    assert plan.sequences == ()
    assert set(reasons(plan)) == {1, 2}
    assert plan.problems == ()


def test_runs_are_ordered_by_start_then_run_number(tmp_path: Path) -> None:
    plan = plan_file(
        night(
            tmp_path,
            (9, 9, "DATA", at("20:30")),
            (8, 9, "DATA", at("20:30")),
            (2, 5, "CALI", at("20:10")),
            (1, 5, "DRS4", at("20:00")),
        )
    )
    assert rows(plan) == [(0, CAL, 2, None, 1), (1, DATA, 8, 0, None), (2, DATA, 9, 0, None)]


def test_plan_night_refuses_duplicate_runs() -> None:
    start = dt.datetime(2020, 1, 27, 20, tzinfo=dt.UTC)
    runs = [Run(1, 3, RunType.DATA, start, "DATA", line=1), Run(1, 3, RunType.DATA, start, "DATA", line=4)]
    with pytest.raises(PlanError, match=r"duplicate run number 1 \(lines 1 and 4\)"):
        plan_night(runs, NIGHT)


# --- the night date ---------------------------------------------------------------------------

AFTER_MIDNIGHT = [Run(1, 3, RunType.DATA, dt.datetime(2020, 1, 28, 3, tzinfo=dt.UTC), "DATA")]


def test_night_date_precedence() -> None:
    explicit, hint = dt.date(2021, 5, 5), dt.date(2019, 1, 1)
    name = "/data/NightSummary_20200127.txt"
    assert night_date(AFTER_MIDNIGHT, explicit=explicit, filename=name, date_hint=hint) == explicit
    assert night_date(AFTER_MIDNIGHT, explicit=None, filename=name, date_hint=hint) == NIGHT
    assert night_date(AFTER_MIDNIGHT, explicit=None, filename="RunSummary_20200117.ecsv", date_hint=hint) == (
        dt.date(2020, 1, 17)
    )
    assert night_date(AFTER_MIDNIGHT, explicit=None, filename="night.txt", date_hint=hint) == hint
    assert night_date(AFTER_MIDNIGHT, explicit=None, filename="night.txt", date_hint=None) == NIGHT
    # The name must be exactly the DAQ's: a copy "NightSummary_20200127.txt.bak" has no date.
    assert night_date(
        AFTER_MIDNIGHT, explicit=None, filename="NightSummary_20200101.txt.bak", date_hint=None
    ) == (NIGHT)


@pytest.mark.parametrize(
    ("hour", "boundary", "expected"),
    [(11, 12, NIGHT), (12, 12, dt.date(2020, 1, 28)), (7, 8, NIGHT), (8, 8, dt.date(2020, 1, 28))],
)
def test_night_date_boundary_hour(hour: int, boundary: int, expected: dt.date) -> None:
    runs = [Run(1, 3, RunType.DATA, dt.datetime(2020, 1, 28, hour, tzinfo=dt.UTC), "DATA")]
    assert night_date(runs, explicit=None, filename=None, date_hint=None, boundary_hour=boundary) == expected


def test_night_date_reads_other_time_zones_and_naive_times_as_utc() -> None:
    la_palma_summer = dt.timezone(dt.timedelta(hours=1))
    aware = [Run(1, 3, RunType.DATA, dt.datetime(2020, 1, 28, 12, 30, tzinfo=la_palma_summer), "DATA")]
    naive = [Run(1, 3, RunType.DATA, dt.datetime(2020, 1, 28, 11, 30), "DATA")]
    for runs in (aware, naive):  # both are 11:30 UTC: still the night of the 27th
        assert night_date(runs, explicit=None, filename=None, date_hint=None) == NIGHT


def test_night_date_errors() -> None:
    with pytest.raises(InputError, match="20201399 is not a valid YYYYMMDD date") as caught:
        night_date(AFTER_MIDNIGHT, explicit=None, filename="NightSummary_20201399.txt", date_hint=None)
    assert str(caught.value).startswith("NightSummary_20201399.txt: ")
    with pytest.raises(InputError, match="cannot tell the night date"):
        night_date([], explicit=None, filename=None, date_hint=None)
    with pytest.raises(PlanError, match=r"0\.\.23"):
        night_date(AFTER_MIDNIGHT, explicit=None, filename=None, date_hint=None, boundary_hour=24)
    first_day = [Run(1, 3, RunType.DATA, dt.datetime(1, 1, 1, 1, tzinfo=dt.UTC), "DATA", line=3)]
    with pytest.raises(InputError, match="give it with --date"):
        night_date(first_day, explicit=None, filename="n.txt", date_hint=None)


def test_plan_file_explicit_date_and_hint(tmp_path: Path, ecsv_night: Path) -> None:
    assert plan_file(ecsv_night, explicit_date=dt.date(2020, 2, 2)).date == dt.date(2020, 2, 2)
    copy = tmp_path / "tonight.ecsv"
    copy.write_bytes(ecsv_night.read_bytes())
    assert read_night_file(copy).date_hint == plan_file(copy).date == dt.date(2020, 1, 17)


def test_plan_file_errors_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such night file"):
        plan_file(tmp_path / "NightSummary_20200127.txt")


# --- rendering --------------------------------------------------------------------------------


def render(plan: Plan) -> str:
    console = Console(width=120, record=True, color_system=None, file=io.StringIO())
    console.print(plan_table(plan))
    return console.export_text()


def test_plan_table_of_the_seed_night(seed_night: Path) -> None:
    text = render(plan_file(seed_night))
    assert "Night 2020-01-27" in text
    for header in ("Seq", "Parent", "Type", "Run", "Subruns", "DRS4"):
        assert header in text
    assert any(line.split() == ["0", "-", "CALIBRATION", "01873", "5", "01872"] for line in text.splitlines())
    assert any(line.split() == ["5", "0", "DATA", "01878", "74"] for line in text.splitlines())
    assert "Skipped: none" in text and "Problems: none" in text


def test_plan_table_shows_skipped_and_problems(tmp_path: Path) -> None:
    text = render(plan_file(night(tmp_path, (1, 9, "ERROR", at("20:00")), (2, 9, "DATA", at("20:10")))))
    assert "Skipped" in text and "type 'ERROR' is not analysed" in text
    assert "Problems" in text and "no usable calibration" in text


def test_planning_imports_nothing_heavy() -> None:
    """A cold ``osa-core plan`` must start fast: no Textual, astropy, pandas, numpy or lstchain."""
    code = (
        "import sys, osa_core.plan.nightfile, osa_core.plan.planner, osa_core.cli.plan_table; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'textual', 'astropy', 'pandas', 'numpy', 'lstchain'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.strip() == "[]"
