"""Property tests: reading and planning never fail with anything but the project's errors, and
every plan of a well-formed night keeps the planner's invariants."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osa_core.model.errors import InputError, OsaError
from osa_core.model.records import Plan, Run
from osa_core.model.states import RunType
from osa_core.plan.nightfile import parse_night_bytes
from osa_core.plan.planner import night_date, plan_night

PATH = Path("NightSummary_20200127.txt")
NIGHT = dt.date(2020, 1, 27)
EVENING = dt.datetime(2020, 1, 27, 18, tzinfo=dt.UTC)
KINDS = ["DRS4", "CALI", "PEDCALIB", "DATA", "DATA", "DATA", "ERROR", "EDATA"]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Spec = tuple[int, int, str, int]  # run, subruns, type, minutes after 18:00 UTC


def read_and_plan(data: bytes) -> Plan | None:
    """What ``osa-core plan`` does with the bytes of a file; only OsaError may come out."""
    try:
        night = parse_night_bytes(data, PATH)
        date = night_date(night.runs, explicit=None, filename=None, date_hint=night.date_hint)
        return plan_night(night.runs, date)
    except OsaError:
        return None


@st.composite
def nights(draw: st.DrawFn) -> list[Spec]:
    count = draw(st.integers(min_value=1, max_value=25))
    numbers = draw(st.lists(st.integers(1, 99999), min_size=count, max_size=count, unique=True))
    return [
        (
            run,
            draw(st.one_of(st.just(0), st.integers(1, 400))),
            draw(st.sampled_from(KINDS)),
            draw(st.integers(0, 14 * 60)),  # ties are allowed: the run number breaks them
        )
        for run in numbers
    ]


def when(minutes: int) -> dt.datetime:
    return EVENING + dt.timedelta(minutes=minutes)


def nightsummary(specs: list[Spec], newline: str = "\n") -> bytes:
    lines = [
        f"{run:05d} {n:4d} {kind} {when(m):%Y-%m-%d %H:%M:%S} 0001 1 2 nan nan nan"
        for run, n, kind, m in specs
    ]
    return newline.join(lines).encode()


def runsummary(specs: list[Spec]) -> bytes:
    header = [
        "# %ECSV 0.9",
        "# ---",
        "# datatype:",
        "# - {name: run_id, datatype: int64}",
        "# - {name: n_subruns, datatype: int64}",
        "# - {name: run_type, datatype: string}",
        "# - {name: run_start, datatype: int64}",
        "# delimiter: ','",
        "# schema: astropy-2.0",
        "run_id,n_subruns,run_type,run_start",
    ]
    rows = [f"{run},{n},{kind},{int(when(m).timestamp()) * 10**9}" for run, n, kind, m in specs]
    return "\n".join(header + rows).encode()


# --- never anything but the project's errors ---------------------------------------------------


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(data: bytes) -> None:
    read_and_plan(data)


@SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_after_the_ecsv_magic(data: bytes) -> None:
    read_and_plan(b"# %ECSV 0.9\n" + data)


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list("# %ECSV-{}:,'\"\n\r\t namedatypeiu0123456789")), max_size=400))
def test_ecsv_lookalike_text(text: str) -> None:
    read_and_plan(("# %ECSV 0.9\n" + text).encode())


def mangle(data: st.DataObject, text: str) -> str:
    """One structural accident: a field lost, doubled or replaced, junk inserted, a cut, a copy."""
    lines = text.split("\n")
    index = data.draw(st.integers(0, len(lines) - 1))
    fields = lines[index].split(" ")
    where = data.draw(st.integers(0, len(fields) - 1))
    junk = data.draw(st.text(max_size=12))
    action = data.draw(st.sampled_from(["drop", "double", "replace", "insert", "cut", "copy", "delimit"]))
    if action == "drop":
        del fields[where]
    elif action == "double":
        fields.insert(where, fields[where])
    elif action == "replace":
        fields[where] = junk
    elif action == "insert":
        fields.insert(where, junk)
    elif action == "delimit":
        fields[where] = fields[where].replace(",", data.draw(st.sampled_from([" ", ";", ",,", '"'])))
    lines[index] = " ".join(fields)
    if action == "cut":
        return "\n".join(lines)[: data.draw(st.integers(0, len(text)))]
    if action == "copy":
        lines.insert(data.draw(st.integers(0, len(lines))), lines[index])
    return "\n".join(lines)


@SETTINGS
@given(nights(), st.data(), st.integers(1, 4))
def test_mangled_nightsummary(specs: list[Spec], data: st.DataObject, accidents: int) -> None:
    text = nightsummary(specs).decode()
    for _ in range(accidents):
        text = mangle(data, text)
    read_and_plan(text.encode())


@SETTINGS
@given(nights(), st.data(), st.integers(1, 4))
def test_mangled_runsummary(specs: list[Spec], data: st.DataObject, accidents: int) -> None:
    text = runsummary(specs).decode()
    for _ in range(accidents):
        text = mangle(data, text)
    read_and_plan(text.encode())


@SETTINGS
@given(nights(), st.data())
def test_duplicate_run_is_an_input_error_naming_both_lines(specs: list[Spec], data: st.DataObject) -> None:
    copied = data.draw(st.integers(0, len(specs) - 1))
    doubled = [*specs, specs[copied]]
    try:
        parse_night_bytes(nightsummary(doubled), PATH)
    except InputError as err:
        assert err.line == len(doubled)
        assert f"first on line {copied + 1}" in err.message
    else:
        raise AssertionError("a duplicate run was accepted")


# --- invariants of every plan ------------------------------------------------------------------


@SETTINGS
@given(nights(), st.sampled_from(["\n", "\r\n"]))
def test_plan_invariants(specs: list[Spec], newline: str) -> None:
    runs = parse_night_bytes(nightsummary(specs, newline), PATH).runs
    plan = plan_night(runs, NIGHT)
    by_run = {run.run: run for run in runs}
    order = {run.run: i for i, run in enumerate(sorted(runs, key=lambda r: (r.start, r.run)))}
    seqs = [s.seq for s in plan.sequences]
    assert seqs == list(range(len(seqs)))  # unique, and numbered from 0 without gaps

    calibrations = {s.seq: s for s in plan.calibrations}
    for cal in calibrations.values():
        assert cal.parent is None
        assert by_run[cal.run].type is RunType.PEDCALIB and cal.drs4_run is not None
        assert by_run[cal.drs4_run].type is RunType.DRS4 and order[cal.drs4_run] < order[cal.run]
        assert any(d.parent == cal.seq for d in plan.data), "a calibration nobody uses"
    cal_order = sorted(calibrations.values(), key=lambda s: order[s.run])
    for d in plan.data:
        assert by_run[d.run].type is RunType.DATA and d.subruns == by_run[d.run].subruns > 0
        if d.parent is None:
            assert not calibrations and plan.problems
            continue
        assert d.parent in calibrations and d.parent < d.seq
        before = [c for c in cal_order if order[c.run] < order[d.run]]
        assert calibrations[d.parent] is (before[-1] if before else cal_order[0])

    skipped = [k.run for k in plan.skipped]
    assert len(skipped) == len(set(skipped))
    for run in runs:
        in_sequences = sum(s.run == run.run for s in plan.sequences)
        as_drs4 = any(c.drs4_run == run.run for c in plan.calibrations)
        if run.type is RunType.DRS4:
            assert in_sequences == 0 and as_drs4 != (run.run in skipped)
        else:
            assert in_sequences + skipped.count(run.run) == 1
        if run.subruns == 0 or run.type is RunType.OTHER:
            assert run.run in skipped


@SETTINGS
@given(nights())
def test_both_formats_plan_alike(specs: list[Spec]) -> None:
    text = parse_night_bytes(nightsummary(specs), PATH)
    ecsv = parse_night_bytes(runsummary(specs), Path("RunSummary_20200127.ecsv"))
    assert (text.format, ecsv.format) == ("nightsummary", "runsummary")
    assert plan_night(text.runs, NIGHT) == plan_night(ecsv.runs, NIGHT)


@SETTINGS
@given(nights(), st.integers(0, 23))
def test_night_date_from_the_first_run(specs: list[Spec], boundary: int) -> None:
    runs: tuple[Run, ...] = parse_night_bytes(nightsummary(specs), PATH).runs
    first = min(run.start for run in runs)
    got = night_date(runs, explicit=None, filename=None, date_hint=None, boundary_hour=boundary)
    assert got == (first - dt.timedelta(hours=boundary)).date()
