"""Readers for the two night formats: the legacy NightSummary text and the RunSummary ECSV.

Both are parsed by hand: astropy would read the ECSV in one call but costs about a second of
import time, and a cold ``osa-core plan`` has to start fast. The format is told from the content,
not the file name, because operators rename and copy these files.

Every problem is an :class:`InputError` naming the file and, where one applies, the line; on any
byte string nothing else escapes (``tests/core/test_planner_properties.py`` proves it).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from osa_core.model.errors import InputError
from osa_core.model.fileio import read_small_file
from osa_core.model.records import Run
from osa_core.model.states import RunType

NightFormat = Literal["nightsummary", "runsummary"]

ECSV_MAGIC = "# %ECSV"

# CALI is the legacy name of PEDCALIB; both are the same calibration run.
_TYPES: dict[str, RunType] = {
    "DRS4": RunType.DRS4,
    "CALI": RunType.PEDCALIB,
    "PEDCALIB": RunType.PEDCALIB,
    "DATA": RunType.DATA,
}

NIGHTSUMMARY_COLUMNS = (
    "run",
    "n_subruns",
    "run_type",
    "date",
    "time",
    "first_valid_event_dragon",
    "ucts_t0_dragon",
    "dragon_counter0",
    "first_valid_event_tib",
    "ucts_t0_tib",
    "tib_counter0",
)
# Columns 9-11 come from the TIB board, which was often not read out in 2020: nan means missing.
_NAN_ALLOWED = frozenset({"first_valid_event_tib", "ucts_t0_tib", "tib_counter0"})
_INTEGER = re.compile(r"-?[0-9]+")
_USUAL_START = re.compile(r"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)")
_LONE_CR = re.compile(r"\r(?!\n|\Z)")

MAX_NIGHT_BYTES = 4 << 20
"""A night has a few hundred runs (tens of KB); 4 MiB is ~45,000 lines, far beyond any real one."""
MAX_RUN = (1 << 63) - 1
"""Run numbers are kept as SQLite integers (signed 64 bits) and in SLURM job names."""
MAX_SUBRUNS = 10_000
"""Subruns are numbered with four digits in file names (``Run01874.0003``): 0 .. 9999."""


@dataclass(frozen=True, slots=True)
class NightFile:
    """The runs of one night file, as read."""

    path: Path
    format: NightFormat
    runs: tuple[Run, ...]
    date_hint: dt.date | None = None  # the ECSV ``meta: date``; NightSummary has none


def read_night_file(path: Path) -> NightFile:
    """Read a NightSummary or RunSummary file; any problem is an :class:`InputError`.

    Only a regular file of at most :data:`MAX_NIGHT_BYTES` is read, within a deadline: a FIFO,
    a device or a stalled mount is refused instead of hanging the command.
    """
    path = Path(path)
    expected = "expected a NightSummary .txt or RunSummary .ecsv"
    data = read_small_file(path, limit=MAX_NIGHT_BYTES, what="night file", missing_hint=expected)
    return parse_night_bytes(data, path)


def parse_night_bytes(data: bytes, path: Path) -> NightFile:
    """Parse the content of a night file (pure: no I/O); ``path`` is only used in messages."""
    text = _decode(data, path)
    if text.startswith(ECSV_MAGIC):
        runs, hint = _parse_runsummary(text, path)
        night_format: NightFormat = "runsummary"
    else:
        runs, hint = _parse_nightsummary(text, path), None
        night_format = "nightsummary"
    if not runs:
        raise InputError("no runs in the file (expected one run per line)", path=path)
    return NightFile(path=path, format=night_format, runs=tuple(runs), date_hint=hint)


def run_type(raw: str) -> RunType:
    """The planner's type for a type as written in a night file; unknown types are OTHER."""
    return _TYPES.get(raw, RunType.OTHER)


def _decode(data: bytes, path: Path) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise InputError(
            f"not UTF-8 text: byte 0x{data[err.start]:02x} cannot be decoded (expected a text night file)",
            path=path,
            line=line,
        )
    lone_cr = _LONE_CR.search(text)
    if lone_cr:
        # Old Mac editors end lines with CR alone: the whole file would read as one long line.
        raise InputError(
            "line ends with a lone carriage return (CR, old Mac line endings) instead of LF or CRLF: "
            "convert the file, e.g. `tr '\\r' '\\n' < FILE > FILE.txt`",
            path=path,
            line=text.count("\n", 0, lone_cr.start()) + 1,
        )
    # Files saved by Windows editors start with a byte-order mark; it is not part of the content.
    return text.removeprefix("\ufeff")


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Numbered physical lines; only LF ends a line (CR of a CRLF is dropped), as editors count."""
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line.removesuffix("\r")


def _integer(value: str, what: str, path: Path, line: int | None) -> int:
    if not _INTEGER.fullmatch(value):
        raise InputError(f"{what} must be an integer, got {value!r}", path=path, line=line)
    try:
        number = int(value)
    except ValueError:  # more digits than Python converts (sys.int_info.default_max_str_digits)
        raise InputError(f"{what} is not a usable integer: {len(value)} digits", path=path, line=line)
    if number < 0:
        raise InputError(f"{what} must not be negative, got {number}", path=path, line=line)
    return number


def _run_number(value: str, what: str, path: Path, line: int) -> int:
    run = _integer(value, what, path, line)
    if run > MAX_RUN:
        raise InputError(f"{what} {run} is beyond the largest run number {MAX_RUN}", path=path, line=line)
    return run


def _subrun_count(value: str, what: str, path: Path, line: int) -> int:
    subruns = _integer(value, what, path, line)
    if subruns > MAX_SUBRUNS:
        raise InputError(
            f"{what} {subruns} is more than {MAX_SUBRUNS}: subruns are numbered with four digits "
            "(a run has a few hundred)",
            path=path,
            line=line,
        )
    return subruns


def _check_duplicate(run: int, line: int, seen: dict[int, int], path: Path) -> None:
    if run in seen:
        raise InputError(
            f"duplicate run number {run} (first on line {seen[run]}); each run must appear once",
            path=path,
            line=line,
        )
    seen[run] = line


# --- NightSummary -----------------------------------------------------------------------------


def _parse_nightsummary(text: str, path: Path) -> list[Run]:
    runs: list[Run] = []
    seen: dict[int, int] = {}
    for number, raw in _lines(text):
        # Nothing in the format uses '#', so everything after it is a comment.
        fields = raw.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != len(NIGHTSUMMARY_COLUMNS):
            raise InputError(
                f"expected {len(NIGHTSUMMARY_COLUMNS)} whitespace-separated columns "
                f"(run n_subruns run_type date time + 6 dragon/TIB counters), found {len(fields)}",
                path=path,
                line=number,
            )
        run = _run_number(fields[0], "run number (column 1)", path, number)
        subruns = _subrun_count(fields[1], "subrun count (column 2)", path, number)
        start = _nightsummary_start(fields[3], fields[4], path, number)
        for column, (name, value) in enumerate(zip(NIGHTSUMMARY_COLUMNS, fields, strict=True), start=1):
            if column <= 5 or (name in _NAN_ALLOWED and value.lower() == "nan"):
                continue
            what = f"column {column} ({name})" + (" (or nan)" if name in _NAN_ALLOWED else "")
            _integer(value, what, path, number)
        _check_duplicate(run, number, seen, path)
        runs.append(Run(run, subruns, run_type(fields[2]), start, fields[2], line=number))
    return runs


def _nightsummary_start(date: str, time: str, path: Path, line: int) -> dt.datetime:
    # strptime costs 20 us a call, most of the reading of a large file: the usual form goes faster.
    usual = _USUAL_START.fullmatch(f"{date} {time}")
    if usual:
        try:
            year, month, day, hour, minute, second = map(int, usual.groups())
            return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
        except ValueError:
            pass  # strptime says what is wrong
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f"):
        try:
            return dt.datetime.strptime(f"{date} {time}", fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    raise InputError(
        f"unparsable start {date!r} {time!r}: expected date and time as YYYY-MM-DD HH:MM:SS (UTC)",
        path=path,
        line=line,
    )


# --- RunSummary ECSV --------------------------------------------------------------------------

_NAME = re.compile(r"""\bname:\s*(?:'([^']*)'|"([^"]*)"|([^,}\s]+))""")
# ECSV allows only these two; anything else is a damaged header, not a dialect to guess.
_DELIMITER = re.compile(r"""^delimiter:\s*(?:'([ ,])'|"([ ,])"|(,))\s*$""")
_META_DATE = re.compile(r"""\bdate:\s*['"]?(\d{4}-\d{2}-\d{2})['"]?""")
_TOP_KEY = re.compile(r"^[A-Za-z_][\w-]*:")
_NS_PER_US = 1000


@dataclass(frozen=True, slots=True)
class _Header:
    names: tuple[str, ...]
    delimiter: str
    date_hint: dt.date | None
    columns_line: int  # the line of the column-name row that follows the header


def _parse_runsummary(text: str, path: Path) -> tuple[list[Run], dt.date | None]:
    lines = list(_lines(text))
    header = _parse_ecsv_header(lines, path)
    index = {name: i for i, name in enumerate(header.names)}
    for needed in ("run_id", "n_subruns", "run_type"):
        if needed not in index:
            raise InputError(
                f"RunSummary has no {needed!r} column (expected run_id, n_subruns, run_type, run_start)",
                path=path,
                line=header.columns_line,
            )
    if "run_start" not in index and "ucts_timestamp" not in index:
        raise InputError(
            "RunSummary has neither a 'run_start' nor a 'ucts_timestamp' column: no start times",
            path=path,
            line=header.columns_line,
        )
    runs: list[Run] = []
    seen: dict[int, int] = {}
    for number, raw in lines[header.columns_line :]:
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        fields = _split_row(raw, header.delimiter, path, number)
        if len(fields) != len(header.names):
            raise InputError(
                f"expected {len(header.names)} fields separated by {header.delimiter!r} "
                f"(as many as the header's columns), found {len(fields)}",
                path=path,
                line=number,
            )
        run = _run_number(fields[index["run_id"]].strip(), "run_id", path, number)
        subruns = _subrun_count(fields[index["n_subruns"]].strip(), "n_subruns", path, number)
        raw_type = fields[index["run_type"]].strip()
        start = _ecsv_start(fields, index, path, number)
        _check_duplicate(run, number, seen, path)
        runs.append(Run(run, subruns, run_type(raw_type), start, raw_type, line=number))
    return runs, header.date_hint


def _parse_ecsv_header(lines: list[tuple[int, str]], path: Path) -> _Header:
    """Read just enough of the YAML header: the column names, the delimiter and the meta date."""
    yaml: list[tuple[int, str]] = []
    columns_at: int | None = None
    for position, (number, raw) in enumerate(lines):
        if raw.startswith("#"):
            yaml.append((number, raw[1:].removeprefix(" ")))
        elif raw.strip():
            columns_at = position
            break
    if columns_at is None:
        last = lines[-1][0]
        raise InputError(
            "truncated ECSV header: the file ends before the column-name row and the data",
            path=path,
            line=last,
        )
    names: list[str] = []
    delimiter = " "  # the ECSV default when the header does not say
    date_hint: dt.date | None = None
    section = ""
    for number, body in yaml[1:]:
        if _TOP_KEY.match(body):
            section, value = body.split(":", 1)
            if section == "meta":  # the flow style "meta: {date: ...}" keeps it on this line
                date_hint = _meta_date(value)
            if section == "delimiter":
                found = _DELIMITER.match(body)
                if not found:
                    raise InputError(
                        f"ECSV delimiter must be ',' or ' ', got {body!r}", path=path, line=number
                    )
                delimiter = next(group for group in found.groups() if group is not None)
            continue
        if section == "datatype":
            name = _NAME.search(body)
            if name:
                names.append(next(group for group in name.groups() if group is not None))
        elif section == "meta" and date_hint is None:
            date_hint = _meta_date(body)
    column_number, column_row = lines[columns_at]
    if not names:
        raise InputError(
            "ECSV header declares no data columns (expected a 'datatype:' list with run_id, n_subruns, ...)",
            path=path,
            line=yaml[-1][0],
        )
    given = [field.strip() for field in _split_row(column_row, delimiter, path, column_number)]
    if given != names:
        raise InputError(
            f"ECSV column-name row {given} does not match the header's columns {names}",
            path=path,
            line=column_number,
        )
    return _Header(tuple(names), delimiter, date_hint, column_number)


def _meta_date(body: str) -> dt.date | None:
    """The night date the RunSummary writer put in ``meta``; a malformed one is only no hint."""
    found = _META_DATE.search(body)
    if not found:
        return None
    try:
        return dt.date.fromisoformat(found.group(1))
    except ValueError:
        return None


def _split_row(raw: str, delimiter: str, path: Path, line: int) -> list[str]:
    # csv handles the quoting ECSV uses for strings that contain the delimiter.
    try:
        return next(csv.reader([raw], delimiter=delimiter, quotechar='"', strict=True), [])
    except (csv.Error, TypeError, ValueError) as err:
        raise InputError(f"malformed row: {err}", path=path, line=line)


def _ecsv_start(fields: list[str], index: dict[str, int], path: Path, line: int) -> dt.datetime:
    """The run start: run_start in ns since the epoch (UTC); ucts_timestamp where it is missing."""
    for column in ("run_start", "ucts_timestamp"):
        if column not in index:
            continue
        value = fields[index[column]].strip()
        # A masked value is written empty; 0 is what the DAQ writes when it had no clock.
        if value in ("", "0") or value.lower() == "nan":
            continue
        ns = _integer(value, f"{column} (ns since 1970-01-01 UTC)", path, line)
        try:
            return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=ns // _NS_PER_US)
        except OverflowError:
            raise InputError(f"unparsable date/time: {column} {ns} ns is out of range", path=path, line=line)
    raise InputError(
        "no start time: run_start and ucts_timestamp are both empty (expected ns since 1970-01-01 UTC)",
        path=path,
        line=line,
    )
