"""The night-file readers, on the reference nights and on files written into tmp_path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from osa_core.model.errors import InputError
from osa_core.model.states import RunType
from osa_core.plan.nightfile import NightFile, parse_night_bytes, read_night_file

UTC = dt.UTC
COUNTERS = "0001 1580154753739954334 5739954100 nan nan nan"


def ns_line(run: int, subruns: int, kind: str, when: str = "2020-01-27 20:00:00") -> str:
    return f"{run:05d} {subruns:4d} {kind} {when} {COUNTERS}"


def ecsv(rows: list[str], *, columns: str = "run_id,n_subruns,run_type,ucts_timestamp,run_start") -> str:
    names = columns.split(",")
    types = {"run_type": "string"}
    header = ["# %ECSV 0.9", "# ---", "# datatype:"]
    header += [f"# - {{name: {name}, datatype: {types.get(name, 'int64')}}}" for name in names]
    header += ["# delimiter: ','", "# meta: !!omap", "# - {date: '2020-01-17'}", "# schema: astropy-2.0"]
    return "\n".join([*header, columns, *rows])


def write(tmp_path: Path, text: str | bytes, name: str = "NightSummary_20200127.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# --- the reference nights --------------------------------------------------------------------


def test_seed_night(seed_night: Path) -> None:
    night = read_night_file(seed_night)
    assert night.format == "nightsummary"
    assert night.date_hint is None
    assert [r.run for r in night.runs] == list(range(1872, 1882))
    assert [r.subruns for r in night.runs[2:]] == [194, 209, 225, 202, 74, 207, 203, 207]
    first, cali = night.runs[0], night.runs[1]
    assert (first.type, cali.type, cali.raw_type) == (RunType.DRS4, RunType.PEDCALIB, "CALI")
    assert first.start == dt.datetime(2020, 1, 27, 19, 51, 44, tzinfo=UTC)
    assert night.runs[-1].line == 10


def test_ecsv_night(ecsv_night: Path) -> None:
    night = read_night_file(ecsv_night)
    assert night.format == "runsummary"
    assert night.date_hint == dt.date(2020, 1, 17)
    assert [(r.run, r.subruns, r.type) for r in night.runs] == [
        (1804, 6, RunType.DRS4),
        (1805, 5, RunType.PEDCALIB),
        (1806, 5, RunType.PEDCALIB),
        (1807, 11, RunType.DATA),
        (1808, 9, RunType.DATA),
    ]
    # run_start (1579289712000000000 ns), not ucts_timestamp, is the start.
    assert night.runs[0].start == dt.datetime(2020, 1, 17, 19, 35, 12, tzinfo=UTC)
    assert night.runs[0].line == 20


def test_format_is_told_from_content_not_name(tmp_path: Path, ecsv_night: Path) -> None:
    renamed = write(tmp_path, ecsv_night.read_bytes(), "night.txt")
    assert read_night_file(renamed).format == "runsummary"


# --- tolerated layout ------------------------------------------------------------------------


def test_blank_lines_comments_tabs_spaces_crlf_bom(tmp_path: Path) -> None:
    text = (
        "\ufeff# NightSummary written by hand\r\n"
        "\r\n"
        "01872\t5   DRS4 2020-01-27 19:51:44 0001 1 2 nan nan nan\r\n"
        "   # indented comment\r\n"
        "01873 5 CALI\t\t2020-01-27  20:23:43 0001 1 2 0001 3 4   # inline comment\r\n"
        "01874 194 DATA 2020-01-27 20:44:13 0003 1 2 NaN nan nan"  # no final newline
    )
    night = read_night_file(write(tmp_path, text))
    assert [(r.run, r.line) for r in night.runs] == [(1872, 3), (1873, 5), (1874, 6)]
    assert night.runs[1].start == dt.datetime(2020, 1, 27, 20, 23, 43, tzinfo=UTC)


def test_fractional_seconds_are_read(tmp_path: Path) -> None:
    night = read_night_file(write(tmp_path, ns_line(1, 3, "DATA", "2020-01-27 20:00:00.250")))
    assert night.runs[0].start.microsecond == 250000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("DRS4", RunType.DRS4),
        ("CALI", RunType.PEDCALIB),
        ("PEDCALIB", RunType.PEDCALIB),
        ("DATA", RunType.DATA),
        ("ERROR", RunType.OTHER),
        ("EDATA", RunType.OTHER),
        ("data", RunType.OTHER),
    ],
)
def test_run_types(raw: str, expected: RunType) -> None:
    night = parse_night_bytes(ns_line(7, 1, raw).encode(), Path("n.txt"))
    assert (night.runs[0].type, night.runs[0].raw_type) == (expected, raw)


def test_ecsv_falls_back_to_ucts_timestamp(tmp_path: Path) -> None:
    no_column = ecsv(["1,3,DATA,1579289727000000000"], columns="run_id,n_subruns,run_type,ucts_timestamp")
    night = read_night_file(write(tmp_path, no_column, "a.ecsv"))
    assert night.runs[0].start == dt.datetime(2020, 1, 17, 19, 35, 27, tzinfo=UTC)
    masked = ecsv(["1,3,DATA,1579289727000000000,", "2,3,DATA,1579289727000000000,0"])
    night = read_night_file(write(tmp_path, masked, "b.ecsv"))
    assert {r.start.second for r in night.runs} == {27}


def test_ecsv_multiline_yaml_and_space_delimiter(tmp_path: Path) -> None:
    text = "\n".join(
        [
            "# %ECSV 1.0",
            "# ---",
            "# datatype:",
            "# - name: run_id",
            "#   datatype: int64",
            "# - {name: run_type, datatype: string}",
            "# - {name: n_subruns, datatype: int64}",
            "# - {name: run_start, datatype: int64}",
            "# schema: astropy-2.0",
            "run_id run_type n_subruns run_start",
            '5 "DATA" 4 1579289712000000000',
            "",
        ]
    )
    night = read_night_file(write(tmp_path, text, "c.ecsv"))
    assert (night.runs[0].run, night.runs[0].type, night.runs[0].subruns) == (5, RunType.DATA, 4)
    assert night.date_hint is None


def test_ecsv_crlf_trailing_newline_and_flow_style_meta(tmp_path: Path) -> None:
    text = ecsv(["1,3,DATA,1,1579289712000000000", ""]).replace("\n", "\r\n")
    text = text.replace("# meta: !!omap\r\n# - {date: '2020-01-17'}", "# meta: {date: '2020-01-18'}")
    night = read_night_file(write(tmp_path, text, "d.ecsv"))
    assert (night.runs[0].run, night.runs[0].line, night.date_hint) == (1, 13, dt.date(2020, 1, 18))


def test_malformed_meta_date_is_no_hint(tmp_path: Path) -> None:
    text = ecsv(["1,3,DATA,1,1579289712000000000"]).replace("2020-01-17", "2020-13-45")
    assert read_night_file(write(tmp_path, text, "e.ecsv")).date_hint is None


def test_nightfile_is_frozen(seed_night: Path) -> None:
    night = read_night_file(seed_night)
    assert isinstance(night, NightFile)
    with pytest.raises(AttributeError):
        night.format = "runsummary"  # type: ignore[misc]


# --- bad input: every case names FILE:LINE and what was expected ------------------------------

GOOD = ns_line(1872, 5, "DRS4")

BAD_NIGHTSUMMARY = [
    pytest.param("", None, "no runs in the file", id="empty"),
    pytest.param("# only a comment\n\n", None, "no runs in the file", id="only-comments"),
    pytest.param(f"{GOOD}\n01873 5 CALI 2020-01-27\n", 2, "expected 11 whitespace-separated", id="columns"),
    pytest.param(f"{GOOD} 12\n", 1, "found 12", id="too-many-columns"),
    pytest.param(ns_line(1, 5, "DATA").replace("00001", "1x"), 1, "run number (column 1) must be an integer"),
    pytest.param(
        ns_line(1, 5, "DATA").replace("   5", " 5.0"), 1, "subrun count (column 2) must be an integer"
    ),
    pytest.param(
        ns_line(1, 5, "DATA").replace("   5", "  -5"), 1, "subrun count (column 2) must not be negative"
    ),
    pytest.param(
        ns_line(1, 5, "DATA").replace("00001", "-0001"), 1, "run number (column 1) must not be negative"
    ),
    pytest.param("1" * 5000 + GOOD[5:], 1, "not a usable integer", id="huge-integer"),
    pytest.param(ns_line(1, 5, "DATA", "2020-01-32 20:00:00"), 1, "unparsable start", id="bad-date"),
    pytest.param(ns_line(1, 5, "DATA", "2020-01-27 25:00:00"), 1, "expected date and time as YYYY-MM-DD"),
    pytest.param(ns_line(1, 5, "DATA", "27/01/2020 20:00:00"), 1, "unparsable start", id="date-order"),
    pytest.param(
        GOOD.replace("1580154753739954334", "nan"), 1, "column 7 (ucts_t0_dragon) must be an integer"
    ),
    pytest.param(GOOD.replace("nan nan nan", "nan x nan"), 1, "column 10 (ucts_t0_tib) (or nan) must be"),
    pytest.param(f"{GOOD}\n\n{GOOD}\n", 3, "duplicate run number 1872 (first on line 1)", id="duplicate"),
    # issue 10, item 10: an old-Mac file is one long line, which read as "found 22 columns"
    pytest.param(f"{GOOD}\r{ns_line(2, 5, 'DATA')}\r", 1, "lone carriage return (CR", id="lone-cr"),
    pytest.param(f"{GOOD}\r\n{GOOD[:-3]}\rnan\r\n", 2, "lone carriage return (CR", id="stray-cr"),
    # issue 10, item 7: planned fine, then crashed submit and status (SQLite keeps 64-bit integers)
    pytest.param(
        ns_line(1, 5, "DATA").replace("00001", str(1 << 64)),
        1,
        "run number (column 1) 18446744073709551616 is beyond the largest run number",
        id="run-beyond-64-bits",
    ),
    pytest.param(
        ns_line(1, 5, "DATA").replace("00001", str(1 << 63)), 1, "beyond the largest", id="run-2**63"
    ),
    pytest.param(
        ns_line(1, 5, "DATA").replace("   5", "10001"),
        1,
        "subrun count (column 2) 10001 is more than 10000: subruns are numbered with four digits",
        id="subruns-beyond-four-digits",
    ),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD_NIGHTSUMMARY)
def test_bad_nightsummary(tmp_path: Path, text: str, line: int | None, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        read_night_file(path)
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(caught.value).startswith(where)
    assert message in str(caught.value)
    assert caught.value.line == line


def test_largest_run_number_and_subrun_count_are_read(tmp_path: Path) -> None:
    text = ns_line(1, 5, "DATA").replace("00001", str((1 << 63) - 1)).replace("   5", "10000")
    (run,) = read_night_file(write(tmp_path, text)).runs
    assert (run.run, run.subruns) == ((1 << 63) - 1, 10_000)


def test_crlf_with_a_final_cr_is_still_crlf(tmp_path: Path) -> None:
    assert len(read_night_file(write(tmp_path, f"{GOOD}\r\n{ns_line(2, 5, 'DATA')}\r")).runs) == 2


def test_non_utf8_names_the_line_of_the_first_bad_byte(tmp_path: Path) -> None:
    path = write(tmp_path, f"{GOOD}\n# caf".encode() + b"\xe9\n" + ns_line(2, 1, "DATA").encode())
    with pytest.raises(InputError) as caught:
        read_night_file(path)
    assert str(caught.value).startswith(f"{path}:2: not UTF-8 text: byte 0xe9")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "NightSummary_20200101.txt"
    with pytest.raises(InputError) as caught:
        read_night_file(path)
    assert (
        str(caught.value) == f"{path}: no such night file (expected a NightSummary .txt or RunSummary .ecsv)"
    )


def test_directory_and_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        read_night_file(tmp_path)
    blocker = write(tmp_path, GOOD)
    # A path "through" a regular file fails with ENOTDIR: unreadable, even for root.
    with pytest.raises(InputError, match="cannot read the night file: Not a directory"):
        read_night_file(blocker / "night.txt")


# ecsv() writes 12 header lines for 5 columns: the column-name row is line 13, the rows follow.
BAD_ECSV = [
    pytest.param(
        "# %ECSV 0.9\n# ---\n# datatype:\n# - {name: run_id", 4, "truncated ECSV header", id="truncated"
    ),
    pytest.param("# %ECSV 0.9", 1, "truncated ECSV header", id="magic-only"),
    pytest.param(
        "# %ECSV 0.9\n# ---\n# schema: astropy-2.0\nrun_id\n1\n",
        3,
        "declares no data columns",
        id="no-columns",
    ),
    pytest.param(ecsv([]), None, "no runs in the file", id="no-rows"),
    pytest.param(
        ecsv(["1,3,DATA,1,1579289712000000000", "2,3,DATA,1"]),
        15,
        "expected 5 fields separated by ','",
        id="too-few-fields",
    ),
    pytest.param(ecsv(["1,3,DATA,1,2,3"]), 14, "found 6", id="too-many-fields"),
    pytest.param(
        ecsv(["x,3,DATA,1,1579289712000000000"]), 14, "run_id must be an integer, got 'x'", id="run"
    ),
    pytest.param(ecsv(["1,-3,DATA,1,1579289712000000000"]), 14, "n_subruns must not be negative", id="neg"),
    pytest.param(ecsv(["1,3,DATA,1,soon"]), 14, "run_start (ns since 1970-01-01 UTC) must be an", id="time"),
    pytest.param(ecsv(["1,3,DATA,1," + "9" * 30]), 14, "unparsable date/time", id="start-out-of-range"),
    pytest.param(ecsv(["1,3,DATA,,"]), 14, "no start time", id="no-start"),
    pytest.param(ecsv(['1,3,"DA"TA,1,1']), 14, "malformed row", id="bad-quoting"),
    pytest.param(
        ecsv(["1,3,DATA,1,1579289712000000000", "", "1,3,DATA,1,1579289712000000000"]),
        16,
        "duplicate run number 1 (first on line 14)",
        id="duplicate",
    ),
    pytest.param(ecsv(["1,3"], columns="run_id,n_subruns"), 10, "no 'run_type' column", id="missing-column"),
    pytest.param(
        ecsv(["1,3,DATA"], columns="run_id,n_subruns,run_type"),
        11,
        "neither a 'run_start' nor",
        id="no-times",
    ),
    pytest.param(
        ecsv(["1,3,DATA,1,1"]).replace("run_id,n_subruns,run_type,ucts", "run,n_subruns,run_type,ucts"),
        13,
        "does not match the header's columns",
        id="column-row-mismatch",
    ),
    pytest.param(
        ecsv(["1,3,DATA,1,1"]).replace("delimiter: ','", "delimiter: ',,'"),
        9,
        "ECSV delimiter must be ',' or ' '",
        id="bad-delimiter",
    ),
    pytest.param(
        ecsv([f"{1 << 64},3,DATA,1,1"]),
        14,
        "run_id 18446744073709551616 is beyond",
        id="run-id-beyond-64-bits",
    ),
    pytest.param(ecsv(["1,20000,DATA,1,1"]), 14, "n_subruns 20000 is more than 10000", id="n-subruns-huge"),
    pytest.param(ecsv(["1,3,DATA,1,1"]).replace("\n", "\r"), 1, "lone carriage return", id="lone-cr"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD_ECSV)
def test_bad_runsummary(tmp_path: Path, text: str, line: int | None, message: str) -> None:
    path = write(tmp_path, text, "RunSummary_20200117.ecsv")
    with pytest.raises(InputError) as caught:
        read_night_file(path)
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(caught.value).startswith(where), str(caught.value)
    assert message in str(caught.value)
