"""Step records and the job-side runner, with real files and real (tiny) processes.

The runner's steps here are short Python one-liners; the last tests run ``osa-core run-subrun``
and ``run-calibration`` as processes on a simulated night, as a batch job would.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.nights import Night, make_night

from osa_core.jobs.history import StepRecord, append_record, now_iso, read_records
from osa_core.jobs.runner import (
    CANNOT_START,
    MISSING_INPUT,
    TaskIdentity,
    done_steps,
    parse_attempt_map,
    run_steps,
)
from osa_core.model.config import load_config
from osa_core.model.layout import NightLayout
from osa_core.pipeline.base import StepCommand

PY = sys.executable
WHO = TaskIdentity(attempt=1, job_id="4242", array_index=3, host="node-a")


def record(event: str = "end", step: str = "r0_to_dl1", **kw: object) -> StepRecord:
    base: dict[str, object] = dict(
        event=event, step=step, time=now_iso(), attempt=1, host="h", job_id="1", array_index=0
    )
    base.update(kw)
    return StepRecord(**base)  # type: ignore[arg-type]


# --- history: append, read by offset ------------------------------------------------------------------


def test_append_and_read_by_offset(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "Run01874.0003.history"
    first = record("start")
    second = record("end", exit_code=0, outputs=("/a/dl1.h5",))
    append_record(path, first)
    append_record(path, second)
    records, offset = read_records(path)
    assert records == [first, second]
    assert offset == path.stat().st_size
    assert path.read_bytes().count(b"\n") == 2

    assert read_records(path, offset) == ([], offset)
    third = record("start", step="dl1_datacheck")
    append_record(path, third)
    records, offset2 = read_records(path, offset)
    assert records == [third]
    assert offset2 == path.stat().st_size


def test_record_round_trip_and_when() -> None:
    rec = record(
        "end", exit_code=2, outputs=("x", "y"), detail="line 1\nline 2", array_index=None, job_id=None
    )
    line = rec.to_line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert StepRecord.from_json(json.loads(line)) == rec
    assert rec.when.tzinfo is not None
    assert abs((dt.datetime.now(dt.UTC) - rec.when).total_seconds()) < 60


def test_missing_history_file(tmp_path: Path) -> None:
    assert read_records(tmp_path / "nope.history", 17) == ([], 17)


def test_partial_last_line_is_left_for_later(tmp_path: Path) -> None:
    path = tmp_path / "h.history"
    whole = record("start")
    append_record(path, whole)
    size = path.stat().st_size
    half = record("end", exit_code=0).to_line()
    with path.open("ab") as fh:
        fh.write(half[:20])
    assert read_records(path) == ([whole], size)
    assert read_records(path, size) == ([], size)
    with path.open("ab") as fh:
        fh.write(half[20:])
    records, offset = read_records(path, size)
    assert [r.event for r in records] == ["end"]
    assert offset == path.stat().st_size


def test_only_a_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "h.history"
    path.write_bytes(b'{"event": "sta')
    assert read_records(path) == ([], 0)


def test_truncated_or_replaced_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "h.history"
    for step in ("a", "b", "c"):
        append_record(path, record("end", step=step, exit_code=0))
    _, offset = read_records(path)
    path.write_bytes(record("start", step="z").to_line())  # shorter than the offset
    records, new_offset = read_records(path, offset)
    assert [r.step for r in records] == ["z"]
    assert new_offset == path.stat().st_size


def test_damaged_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "h.history"
    good = [record("start", step="a"), record("end", step="a", exit_code=0), record("start", step="b")]
    garbage = [
        b"not json at all\n",
        b'{"step": "no event"}\n',
        b'{"event": "end", "step": "x", "time": "t", "attempt": "first"}\n',
        b'{"event": "end", "step": "x", "time": "t", "outputs": 5}\n',
        b"\xff\xfe\x00 binary\n",
        b"\n",
        b"   \n",
    ]
    path.write_bytes(good[0].to_line() + b"".join(garbage[:3]) + good[1].to_line() + b"".join(garbage[3:]))
    append_record(path, good[2])
    records, offset = read_records(path)
    assert records == good
    assert offset == path.stat().st_size


@pytest.mark.parametrize("line", [b"[1, 2, 3]", b'"a string"', b"null", b"17", b"true"])
def test_a_json_line_that_is_not_an_object_is_skipped(tmp_path: Path, line: bytes) -> None:
    path = tmp_path / "h.history"
    good = record("start")
    path.write_bytes(line + b"\n" + good.to_line())
    assert read_records(path) == ([good], path.stat().st_size)


@pytest.mark.parametrize(
    "line",
    [
        b'{"event": "end", "step": "x", "time": "garbage"}',
        b'{"event": "end", "step": "x", "time": "2020-01-27T20:00:00+00:00", "exit_code": "zero"}',
        b'{"event": "end", "step": "x", "time": "2020-01-27T20:00:00+00:00", "array_index": "q"}',
    ],
    ids=["time", "exit_code", "array_index"],
)
def test_a_record_with_wrongly_typed_fields_is_skipped(tmp_path: Path, line: bytes) -> None:
    path = tmp_path / "h.history"
    good = record("start")
    path.write_bytes(line + b"\n" + good.to_line())
    assert read_records(path) == ([good], path.stat().st_size)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 500))
def test_reading_any_bytes_never_raises(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, offset: int
) -> None:
    path = tmp_path_factory.mktemp("any") / "h.history"
    path.write_bytes(data)
    records, end = read_records(path, offset)
    assert all(isinstance(r, StepRecord) for r in records)
    assert 0 <= end <= len(data)


# --- the runner ----------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def keep_sigterm() -> Iterator[None]:
    """run_steps installs a SIGTERM forwarder; give pytest its own handler back."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


def write_step(
    name: str, output: Path, *, inputs: tuple[Path, ...] = (), marker: Path | None = None
) -> StepCommand:
    """A step that writes its output (and leaves a marker file, to prove it ran)."""
    code = "import pathlib, sys\nfor p in sys.argv[1:]: pathlib.Path(p).write_text('done')\nprint('wrote')"
    targets = [str(output)] + ([str(marker)] if marker else [])
    return StepCommand(name=name, argv=(PY, "-c", code, *targets), outputs=(output,), inputs=inputs)


def failing_step(name: str, code: int, marker: Path | None = None) -> StepCommand:
    script = "import sys, pathlib\n"
    if marker is not None:
        script += f"pathlib.Path({str(marker)!r}).write_text('ran')\n"
    script += f"for i in range(30): print('line', i)\nprint('boom: disk on fire')\nsys.exit({code})"
    return StepCommand(name=name, argv=(PY, "-c", script))


def events(history: Path) -> list[tuple[str, str, int | None]]:
    return [(r.event, r.step, r.exit_code) for r in read_records(history)[0]]


def test_run_steps_records_start_and_end_of_each_step(tmp_path: Path) -> None:
    history = tmp_path / "history" / "Run01874.0003.history"
    a, b = tmp_path / "a.out", tmp_path / "b.out"
    steps = [write_step("r0_to_dl1", a), write_step("dl1_datacheck", b, inputs=(a,))]
    assert run_steps(steps, history, WHO) == 0
    records = read_records(history)[0]
    assert [(r.event, r.step, r.exit_code) for r in records] == [
        ("start", "r0_to_dl1", None),
        ("end", "r0_to_dl1", 0),
        ("start", "dl1_datacheck", None),
        ("end", "dl1_datacheck", 0),
    ]
    for r in records:
        assert (r.attempt, r.job_id, r.array_index, r.host) == (1, "4242", 3, "node-a")
    assert records[1].outputs == (str(a),)
    assert records[0].when <= records[1].when <= records[2].when <= records[3].when
    assert a.read_text() == b.read_text() == "done"


def test_run_steps_stops_at_the_first_failure(tmp_path: Path) -> None:
    history = tmp_path / "h.history"
    never = tmp_path / "never-ran"
    steps = [
        write_step("r0_to_dl1", tmp_path / "a.out"),
        failing_step("dl1_datacheck", 5),
        failing_step("muon_analysis", 0, marker=never),
    ]
    assert run_steps(steps, history, WHO) == 5
    assert events(history) == [
        ("start", "r0_to_dl1", None),
        ("end", "r0_to_dl1", 0),
        ("start", "dl1_datacheck", None),
        ("end", "dl1_datacheck", 5),
    ]
    detail = read_records(history)[0][-1].detail
    assert detail.splitlines()[-1] == "boom: disk on fire"
    assert len(detail.splitlines()) == 15  # the tail of the output, not all of it
    assert not never.exists()


def test_missing_input_fails_with_66_before_the_step_runs(tmp_path: Path) -> None:
    history = tmp_path / "h.history"
    ran = tmp_path / "ran"
    absent = tmp_path / "calibration" / "drs4.h5"
    steps = [
        write_step("r0_to_dl1", tmp_path / "dl1.h5", inputs=(absent,), marker=ran),
        write_step("dl1_datacheck", tmp_path / "dc.h5"),
    ]
    assert run_steps(steps, history, WHO) == MISSING_INPUT == 66
    assert not ran.exists(), "the step's command must never start"
    assert not (tmp_path / "dc.h5").exists()
    records = read_records(history)[0]
    end = records[-1]
    assert (end.event, end.step, end.exit_code) == ("end", "r0_to_dl1", 66)
    assert end.detail == f"missing input: {absent}"
    assert "dl1_datacheck" not in {r.step for r in records}


def test_exit_0_without_the_output_is_a_failure(tmp_path: Path) -> None:
    history = tmp_path / "h.history"
    liar = StepCommand(name="dl1_to_dl2", argv=(PY, "-c", "pass"), outputs=(tmp_path / "dl2.h5",))
    assert run_steps([liar, write_step("next", tmp_path / "n")], history, WHO) == 1
    end = read_records(history)[0][-1]
    assert (end.event, end.step, end.exit_code) == ("end", "dl1_to_dl2", 1)
    assert "did not write" in end.detail and str(tmp_path / "dl2.h5") in end.detail
    assert not (tmp_path / "n").exists()


def test_a_command_that_cannot_start(tmp_path: Path) -> None:
    history = tmp_path / "h.history"
    step = StepCommand(name="r0_to_dl1", argv=(str(tmp_path / "no-such-executable"),))
    assert run_steps([step], history, WHO) == CANNOT_START
    end = read_records(history)[0][-1]
    assert end.exit_code == CANNOT_START and "cannot start" in end.detail


def test_a_step_killed_by_a_signal_exits_as_a_shell_would(tmp_path: Path) -> None:
    history = tmp_path / "h.history"
    step = StepCommand(name="r0_to_dl1", argv=(PY, "-c", "import os, signal; os.kill(os.getpid(), 9)"))
    assert run_steps([step], history, WHO) == 128 + signal.SIGKILL
    assert events(history)[-1] == ("end", "r0_to_dl1", 137)


def test_step_environment_reaches_the_step(tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    code = "import os, sys; open(sys.argv[1], 'w').write(os.environ['MPLBACKEND'])"
    step = StepCommand(
        name="s", argv=(PY, "-c", code, str(out)), outputs=(out,), env=(("MPLBACKEND", "Agg"),)
    )
    assert run_steps([step], tmp_path / "h.history", WHO) == 0
    assert out.read_text() == "Agg"


def test_rerun_skips_what_an_earlier_attempt_did(tmp_path: Path) -> None:
    history = tmp_path / "h.history"
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    runs_a = tmp_path / "a-ran"
    first = [write_step("one", a, marker=runs_a), failing_step("two", 3), write_step("three", c)]
    assert run_steps(first, history, WHO) == 3
    assert done_steps(history) == {"one"}
    runs_a.unlink()

    second_who = TaskIdentity(attempt=2, job_id="5000", array_index=3, host="node-b")
    second = [write_step("one", a, marker=runs_a), write_step("two", b), write_step("three", c)]
    offset = history.stat().st_size
    assert run_steps(second, history, second_who) == 0
    new = read_records(history, offset)[0]
    assert [(r.event, r.step, r.exit_code, r.attempt) for r in new] == [
        ("skip", "one", 0, 2),
        ("start", "two", None, 2),
        ("end", "two", 0, 2),
        ("start", "three", None, 2),
        ("end", "three", 0, 2),
    ]
    assert {r.host for r in new} == {"node-b"}
    assert not runs_a.exists(), "a skipped step does not run"
    assert done_steps(history) == {"one", "two", "three"}

    # The output of a finished step vanished: the next attempt does that step again.
    b.unlink()
    third_who = TaskIdentity(attempt=3, job_id="6000", array_index=3, host="node-c")
    offset = history.stat().st_size
    assert run_steps(second, history, third_who) == 0
    assert [(r.event, r.step) for r in read_records(history, offset)[0]] == [
        ("skip", "one"),
        ("start", "two"),
        ("end", "two"),
        ("skip", "three"),
    ]
    assert b.read_text() == "done"


def test_a_step_without_outputs_done_once_is_skipped(tmp_path: Path) -> None:
    history = tmp_path / "h.history"
    marker = tmp_path / "count"
    step = StepCommand(name="noop", argv=(PY, "-c", f"open({str(marker)!r}, 'a').write('x')"))
    assert run_steps([step], history, WHO) == 0
    assert run_steps([step], history, WHO) == 0
    assert marker.read_text() == "x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3=2,17=3", {3: 2, 17: 3}),
        ("0=1", {0: 1}),
        ("", {}),
        (None, {}),
        (" 3=2 , ,17=4,", {3: 2, 17: 4}),
    ],
)
def test_parse_attempt_map(text: str | None, expected: dict[int, int]) -> None:
    assert parse_attempt_map(text) == expected


def test_task_identity_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "17")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "900")
    monkeypatch.setenv("SLURM_JOB_ID", "917")
    monkeypatch.setenv("SLURMD_NODENAME", "cp42")
    assert TaskIdentity.from_environment(2) == TaskIdentity(2, "900", 17, "cp42")
    for name in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_JOB_ID", "SLURMD_NODENAME"):
        monkeypatch.delenv(name)
    who = TaskIdentity.from_environment(1)
    assert (who.job_id, who.array_index, who.host) == ("917", None, os.uname().nodename)


# --- osa-core run-calibration / run-subrun as a batch job runs them ---------------------------------------


def job_env(index: int | None, job: str = "777") -> dict[str, str]:
    env = {"SLURM_ARRAY_JOB_ID": job, "SLURM_JOB_ID": job, "SLURMD_NODENAME": "sim-node"}
    if index is not None:
        env["SLURM_ARRAY_TASK_ID"] = str(index)
    return env


@pytest.fixture
def night(tmp_path: Path) -> Night:
    failures = [{"run": 1874, "step": "dl1_datacheck", "subrun": 1, "exit_code": 7}]
    return make_night(
        tmp_path, "local", {"pipeline": {"simulate": {"default_seconds": 0.0, "failures": failures}}}
    )


def subrun_args(subrun: int, attempt_map: str = "") -> list[str]:
    args = ["run-subrun", "--seq", "1", "--run", "1874", "--drs4-run", "1872", "--pedcal-run", "1873"]
    args += ["--subrun", str(subrun)]
    return args + (["--attempt-map", attempt_map] if attempt_map else [])


def test_run_subrun_without_calibration_misses_its_input(night: Night) -> None:
    layout = NightLayout(load_config(night.config), dt.date(2020, 1, 27))
    result = night.cli(*subrun_args(0), env=job_env(0), check=False)
    assert result.returncode == MISSING_INPUT, result.stderr
    assert "missing input" in result.stderr and "drs4_pedestal.Run01872" in result.stderr
    assert events(layout.history(1874, 0))[-1] == ("end", "r0_to_dl1", 66)


def test_run_calibration_then_subruns(night: Night) -> None:
    layout = NightLayout(load_config(night.config), dt.date(2020, 1, 27))
    cal = night.cli(
        "run-calibration", "--seq", "0", "--drs4-run", "1872", "--pedcal-run", "1873", env=job_env(None)
    )
    assert cal.returncode == 0, cal.stderr
    assert "SIMULATION" in cal.stdout
    assert [e for e in events(layout.history(1873, None)) if e[0] == "end"] == [
        ("end", "drs4_baseline", 0),
        ("end", "charge_calibration", 0),
        ("end", "time_calibration", 0),
    ]
    assert json.loads(layout.drs4_file(1872).read_text())["simulated"] is True

    ok = night.cli(*subrun_args(0, "0=2"), env=job_env(0))
    assert ok.returncode == 0, ok.stderr
    assert "SIMULATION profile" in ok.stdout
    records = read_records(layout.history(1874, 0))[0]
    assert [(r.event, r.step) for r in records if r.event == "end"] == [
        ("end", "r0_to_dl1"),
        ("end", "dl1_datacheck"),
        ("end", "muon_analysis"),
        ("end", "dl1_to_dl2"),
    ]
    assert {(r.attempt, r.job_id, r.array_index, r.host) for r in records} == {(2, "777", 0, "sim-node")}
    product = json.loads(layout.dl2(1874, 0).read_text())
    assert product == {
        "simulated": True,
        "step": "dl1_to_dl2",
        "run": 1874,
        "subrun": 0,
        "events": product["events"],
    }

    # Subrun 1 fails in dl1_datacheck on attempt 1, as configured, with its exit code.
    bad = night.cli(*subrun_args(1), env=job_env(1), check=False)
    assert bad.returncode == 7, bad.stderr
    history = layout.history(1874, 1)
    assert events(history)[-2:] == [("start", "dl1_datacheck", None), ("end", "dl1_datacheck", 7)]
    assert not layout.muons(1874, 1).exists()

    # Attempt 2 skips R0->DL1 (done, output there) and completes.
    offset = history.stat().st_size
    again = night.cli(*subrun_args(1, "1=2"), env=job_env(1, job="778"))
    assert again.returncode == 0, again.stderr
    new = read_records(history, offset)[0]
    assert [(r.event, r.step) for r in new][:2] == [("skip", "r0_to_dl1"), ("start", "dl1_datacheck")]
    assert {(r.attempt, r.job_id) for r in new} == {(2, "778")}
