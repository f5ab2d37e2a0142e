"""SLURM command lines and parsers, on answers captured from the real Slurm 22.05.8.

The captures (``tests/data/sacct``, see its README) come from ``dev/slurm-up``'s cluster, except
``handwritten_oom_nodefail.txt``: OUT_OF_MEMORY needs cgroup memory enforcement, which this
single node lacks, so those lines are written by hand in the captured format.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from osa_core.model.arrays import expand_indices, index_spec
from osa_core.model.errors import SchedulerError
from osa_core.model.states import JobState
from osa_core.scheduler.base import JobRequest, TaskInfo
from osa_core.scheduler.slurm.answers import (
    parse_sacct,
    parse_sacct_json,
    parse_sbatch,
    parse_squeue_named,
    parse_squeue_reasons,
)
from osa_core.scheduler.slurm.commands import (
    SACCT_FORMAT,
    sacct_argv,
    sbatch_argv,
    scancel_argv,
    set_dependency_argv,
    squeue_argv,
    squeue_named_argv,
)

CAPTURED = 10
"""The captured answers (tests/data/sacct) were asked for the first 10 of SACCT_FIELDS."""
DATA = Path(__file__).resolve().parent.parent / "data" / "sacct"
UTC = dt.UTC


def read(name: str) -> str:
    return (DATA / name).read_text()


def by_key(tasks: list[TaskInfo]) -> dict[tuple[str, int | None], TaskInfo]:
    keys = [(t.job_id, t.array_index) for t in tasks]
    assert len(keys) == len(set(keys)), "one TaskInfo per task"
    return dict(zip(keys, tasks, strict=True))


# --- command lines ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("indices", "expected"),
    [
        ([0, 1, 2, 3, 4, 5, 9, 12, 13], "0-5,9,12-13"),
        ([17, 3, 42], "3,17,42"),
        ([5], "5"),
        ([2, 2, 1, 0], "0-2"),
        ([0, 2, 4, 5], "0,2,4-5"),
    ],
)
def test_compress_indices(indices: list[int], expected: str) -> None:
    assert index_spec(indices) == expected
    assert expand_indices(expected) == sorted(set(indices))


def test_compress_refuses_empty_and_negative() -> None:
    with pytest.raises(SchedulerError, match="at least one"):
        index_spec([])
    with pytest.raises(SchedulerError, match="negative"):
        index_spec([-1, 2])


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("5-9%4", [5, 6, 7, 8, 9]), ("1,3,5-7", [1, 3, 5, 6, 7]), ("0-10:5", [0, 5, 10]), ("4", [4])],
)
def test_expand_indices(spec: str, expected: list[int]) -> None:
    assert expand_indices(spec) == expected


@pytest.mark.parametrize("bad", ["", "a-b", "5-3", "1,,2", "0-4:0"])
def test_expand_indices_refuses(bad: str) -> None:
    with pytest.raises(SchedulerError, match="array index range"):
        expand_indices(bad)


def request(**kw: Any) -> JobRequest:
    base: dict[str, Any] = dict(
        name="LST1_01874_20200127",
        script="/night/scripts/LST1_01874.sh",
        workdir="/night",
        stdout="/night/log/%A_%4a.out",
        stderr="/night/log/%A_%4a.err",
    )
    base.update(kw)
    return JobRequest(**base)


def test_sbatch_argv_full() -> None:
    req = request(
        array=(0, 1, 2, 3, 4, 5, 9, 12, 13),
        throttle=4,
        after_ok=("101", "102"),
        memory="6G",
        walltime="01:30:00",
        account="dpps",
        comment="osa night 2020-01-27 seq 2",
        args=("--attempt-map", "3=2,17=2"),
        extra=("--qos=high",),
    )
    assert sbatch_argv(req, partition="short") == [
        "sbatch",
        "--parsable",
        "--job-name=LST1_01874_20200127",
        "--comment=osa night 2020-01-27 seq 2",
        "--array=0-5,9,12-13%4",
        "--dependency=afterok:101:102",
        "--mem=6G",
        "--time=01:30:00",
        "--partition=short",
        "--account=dpps",
        "--output=/night/log/%A_%4a.out",
        "--error=/night/log/%A_%4a.err",
        "--chdir=/night",
        "--qos=high",
        "/night/scripts/LST1_01874.sh",
        "--attempt-map",
        "3=2,17=2",
    ]


def test_sbatch_argv_single_job_minimal() -> None:
    argv = sbatch_argv(request(partition="long"), partition="short")
    assert "--partition=long" in argv  # the request's own partition wins
    assert not any(a.startswith(("--array", "--dependency", "--mem", "--time", "--comment")) for a in argv)
    assert argv[-1] == "/night/scripts/LST1_01874.sh"
    assert sbatch_argv(request(), script="/dev/stdin")[-1] == "/dev/stdin"
    assert sbatch_argv(request(script="-odd.sh"))[-1] == "./-odd.sh"


def test_sbatch_argv_refuses_comma_in_dependency() -> None:
    with pytest.raises(SchedulerError, match="comma"):
        sbatch_argv(request(after_ok=("1,2",)))


def test_sbatch_argv_excludes_nodes() -> None:
    """A failure group on a bad node is resubmitted away from it: one --exclude with every node."""
    argv = sbatch_argv(request(array=(3, 17), exclude=("cp23", "cp24")))
    assert "--exclude=cp23,cp24" in argv
    assert argv.index("--exclude=cp23,cp24") < argv.index("/night/scripts/LST1_01874.sh")
    assert not any(a.startswith("--exclude") for a in sbatch_argv(request()))
    with pytest.raises(SchedulerError, match="node 'a,b'"):
        sbatch_argv(request(exclude=("a,b",)))


def test_sacct_argv_is_one_call_for_the_night() -> None:
    since = dt.datetime(2020, 1, 27, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    argv = sacct_argv(["LST1_01873_20200127", "LST1_01874_20200127"], since, ["36", "37"])
    assert argv == [
        "sacct",
        "-P",
        "-n",
        "--starttime=2020-01-27T19:00:00",  # converted to UTC: the runner sets TZ=UTC
        "--endtime=now",
        "--name=LST1_01873_20200127,LST1_01874_20200127",
        "--jobs=36,37",
        f"--format={SACCT_FORMAT}",
    ]
    naive = sacct_argv(["X"], dt.datetime(2020, 1, 27, 23, 59, 59))
    assert "--starttime=2020-01-27T23:59:59" in naive and not any(a.startswith("--jobs") for a in naive)
    with pytest.raises(SchedulerError):
        sacct_argv([], since)
    with pytest.raises(SchedulerError, match="comma"):
        sacct_argv(["a,b"], since)


def test_other_command_lines() -> None:
    assert scancel_argv("37") == ["scancel", "37"]
    assert scancel_argv("37", [17, 3]) == ["scancel", "37_[3,17]"]
    assert scancel_argv("37", [0, 1, 2, 9]) == ["scancel", "37_[0-2,9]"]
    assert set_dependency_argv("40", ["55"]) == ["scontrol", "update", "JobId=40", "Dependency=afterok:55"]
    assert set_dependency_argv("40", []) == ["scontrol", "update", "JobId=40", "Dependency="]
    assert squeue_argv(["36", "37"]) == [
        "squeue",
        "--noheader",
        "--states=PENDING",
        "--format=%i|%r",
        "--jobs=36,37",
    ]


@pytest.mark.parametrize(("out", "job"), [("123\n", "123"), ("123;osa\n", "123"), ("warn\n77\n", "77")])
def test_parse_sbatch(out: str, job: str) -> None:
    assert parse_sbatch(out) == job


@pytest.mark.parametrize("out", ["", "\n", "Submitted batch job 12\n"])
def test_parse_sbatch_refuses(out: str) -> None:
    with pytest.raises(SchedulerError):
        parse_sbatch(out)


# --- sacct text ---------------------------------------------------------------------------------
def test_parse_running_night() -> None:
    tasks = by_key(parse_sacct(read("night_running.txt"), width=CAPTURED))
    calib = tasks[("36", None)]
    assert calib.state is JobState.RUNNING and calib.node == "vm" and calib.end is None
    assert calib.start == dt.datetime(2026, 11, 25, 3, 29, 33, tzinfo=UTC)
    assert calib.exit_code is None  # not finished: "0:0" means nothing yet
    # The data array waits on the calibration: one PENDING task per index of 37_[0-5%2].
    data = [tasks[("37", i)] for i in range(6)]
    assert all(t.state is JobState.PENDING and t.reason == "Dependency" for t in data)
    assert all(t.node is None and t.start is None and t.name == "LST1_01874_20200127" for t in data)
    held = [i for (job, i) in tasks if job == "41"]
    assert held == [1, 3, 5, 6, 7]
    assert tasks[("41", 5)].reason == "JobHeldUser"
    assert tasks[("38", 3)].state is JobState.RUNNING  # the task sharing the master's raw id
    assert len(tasks) == 5 + 6 + 4 + 5


def test_parse_finished_night() -> None:
    tasks = by_key(parse_sacct(read("night_finished.txt"), width=CAPTURED))
    failed = tasks[("37", 3)]
    assert (failed.state, failed.exit_code, failed.signal) == (JobState.FAILED, 2, None)
    assert failed.reason is None  # sacct says JobArrayTaskLimit: the last wait of a started task
    assert failed.end == dt.datetime(2026, 11, 25, 3, 29, 41, tzinfo=UTC)
    assert tasks[("37", 5)].state is JobState.COMPLETED and tasks[("37", 5)].exit_code == 0
    assert tasks[("38", 2)].state is JobState.CANCELLED  # "CANCELLED by 0"
    killed = tasks[("39", None)], tasks[("42", None)]
    assert (killed[0].state, killed[0].exit_code) == (JobState.FAILED, 1)
    assert (killed[1].state, killed[1].exit_code, killed[1].signal) == (JobState.FAILED, 0, 9)
    assert tasks[("43", None)].state is JobState.TIMEOUT
    never = tasks[("40", None)]
    assert never.state is JobState.PENDING
    assert never.reason == "Dependency"  # stale in the database: squeue knows better (below)


def test_by_name_misses_pending_jobs_that_are_not_eligible() -> None:
    """Why sacct_argv takes job ids: the same moment, without --jobs, lost the waiting jobs."""
    with_ids = {t.job_id for t in parse_sacct(read("night_running.txt"), width=CAPTURED)}
    by_name = {t.job_id for t in parse_sacct(read("night_running_by_name.txt"), width=CAPTURED)}
    assert with_ids - by_name == {"37", "40", "41"}


def test_requeued_task_keeps_its_last_line_and_throttled_rest_expands() -> None:
    tasks = by_key(parse_sacct(read("throttled_requeue_duplicates.txt"), width=CAPTURED))
    assert tasks[("53", None)].state is JobState.PENDING  # REQUEUED first, then PENDING
    assert tasks[("53", None)].start is None
    assert [i for (job, i) in tasks if job == "52"] == list(range(10))
    assert tasks[("52", 9)].reason == "JobArrayTaskLimit"
    assert tasks[("52", 2)].state is JobState.RUNNING and tasks[("52", 2)].reason is None


def test_later_line_wins_whatever_its_state() -> None:
    first = "9|9|N|RUNNING|0:0|vm|2026-11-25T03:00:00|2026-11-25T03:00:01|Unknown|None\n"
    second = "9|9|N|REQUEUED|0:0|vm|2026-11-25T03:00:00|2026-11-25T03:00:01|2026-11-25T03:00:09|None\n"
    (task,) = parse_sacct(first + second, width=CAPTURED)
    assert task.state is JobState.PENDING and task.end == dt.datetime(2026, 11, 25, 3, 0, 9, tzinfo=UTC)


def test_handwritten_oom_nodefail_timeout() -> None:
    tasks = by_key(parse_sacct(read("handwritten_oom_nodefail.txt"), width=CAPTURED))
    oom = tasks[("60", 0)]
    assert (oom.state, oom.exit_code, oom.signal) == (JobState.OUT_OF_MEMORY, 0, 125)
    assert tasks[("60", 1)].state is JobState.NODE_FAIL
    assert (tasks[("60", 2)].state, tasks[("60", 2)].signal) == (JobState.TIMEOUT, 15)


def test_job_name_with_a_pipe() -> None:
    (task,) = parse_sacct("7|7|odd|name|COMPLETED|0:0|vm|None|None|None|None\n", width=CAPTURED)
    assert task.name == "odd|name" and task.submit is None and task.state is JobState.COMPLETED


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("9|9|N|EXPLODED|0:0|vm|Unknown|Unknown|Unknown|None", "unknown SLURM job state 'EXPLODED'"),
        ("9|9|N|RUNNING|0:0|vm|Unknown|Unknown", "expected 10 fields, got 8"),
        ("9x|9|N|RUNNING|0:0|vm|Unknown|Unknown|Unknown|None", "cannot read job id '9x'"),
        ("9|9|N|FAILED|x:0|vm|Unknown|Unknown|Unknown|None", "cannot read exit code 'x:0'"),
        ("9|9|N|FAILED|1:0|vm|27/01/2020|Unknown|Unknown|None", "cannot read time '27/01/2020'"),
        ("9_[a-b]|9|N|PENDING|0:0|None assigned|Unknown|Unknown|Unknown|None", "array index range"),
        ("9_[1-3]|9|N|RUNNING|0:0|vm|Unknown|Unknown|Unknown|None", "index range in state"),
    ],
)
def test_bad_lines_raise_naming_the_line(line: str, match: str) -> None:
    good = "1|1|N|COMPLETED|0:0|vm|Unknown|Unknown|Unknown|None\n"
    with pytest.raises(SchedulerError, match=match) as info:
        parse_sacct(good + line + "\n", width=CAPTURED)
    assert "sacct line 2" in info.value.message and line in info.value.message


# --- squeue -------------------------------------------------------------------------------------
def test_squeue_reasons() -> None:
    assert parse_squeue_reasons(read("squeue_running.txt")) == {
        "37": "JobArrayTaskLimit",
        "40": "DependencyNeverSatisfied",
        "41": "JobHeldUser",
    }
    assert parse_squeue_reasons(read("squeue_finished.txt"))["40"] == "DependencyNeverSatisfied"
    assert parse_squeue_reasons("") == {}
    with pytest.raises(SchedulerError, match="squeue line 1"):
        parse_squeue_reasons("garbage\n")


def test_squeue_named_reads_each_task_of_the_queue() -> None:
    # captured on the test cluster (TZ=UTC): an array waiting on a held job, the held job, and
    # a single job named with a pipe that has just completed
    text = (
        "19182|0|depB_x|PENDING|2026-11-30T19:56:00|Dependency\n"
        "19182|1|depB_x|PENDING|2026-11-30T19:56:00|Dependency\n"
        "19181|N/A|depA|PENDING|2026-11-30T19:56:00|JobHeldUser\n"
        "19183|N/A|dep|C|COMPLETED|2026-11-30T19:56:01|None\n"
    )
    tasks = parse_squeue_named(text)
    assert [(t.job_id, t.array_index, t.name, t.state, t.reason) for t in tasks] == [
        ("19182", 0, "depB_x", JobState.PENDING, "Dependency"),
        ("19182", 1, "depB_x", JobState.PENDING, "Dependency"),
        ("19181", None, "depA", JobState.PENDING, "JobHeldUser"),
        ("19183", None, "dep|C", JobState.COMPLETED, None),
    ]
    assert tasks[0].submit == dt.datetime(2026, 11, 30, 19, 56, tzinfo=dt.UTC)
    assert parse_squeue_named("") == []
    assert squeue_named_argv(["a", "b"])[-1] == "--name=a,b"


@pytest.mark.parametrize(
    "line",
    [
        "garbage",
        "x|0|n|PENDING|2026-11-30T19:56:00|None",
        "1|zero|n|PENDING|2026-11-30T19:56:00|None",
        "1|0|n|WAITING|2026-11-30T19:56:00|None",
    ],
)
def test_squeue_named_refuses_what_it_cannot_read(line: str) -> None:
    with pytest.raises(SchedulerError, match="squeue line 2") as info:
        parse_squeue_named("19182|0|ok|PENDING|2026-11-30T19:56:00|None\n" + line + "\n")
    assert line in info.value.message


# --- sacct --json -------------------------------------------------------------------------------
def test_json_agrees_with_text_where_22_05_is_right() -> None:
    text = by_key(parse_sacct(read("night_finished.txt"), width=CAPTURED))
    js = by_key(parse_sacct_json(read("night_finished.json")))
    assert set(js) == set(text)
    for key, t in text.items():
        j = js[key]
        assert (j.state, j.name, j.node, j.submit, j.start, j.end) == (
            t.state,
            t.name,
            t.node,
            t.submit,
            t.start,
            t.end,
        ), key
        if t.state is not JobState.FAILED or t.signal:
            assert (j.exit_code, j.signal) == (t.exit_code, t.signal), key
    # 22.05's JSON says SUCCESS/0 for a task that exited 2: the parser says "unknown", not 0.
    assert text[("37", 3)].exit_code == 2 and js[("37", 3)].exit_code is None
    assert js[("42", None)].signal == 9  # SIGNALED is reported right
    assert [i for (job, i) in js if job == "41"] == [1, 3, 5, 6, 7]  # hex bitmap 0xEA


def _json_with(mutate: Callable[[dict[str, Any]], object]) -> str:
    doc = json.loads(read("night_finished.json"))
    mutate(doc)
    return json.dumps(doc)


def _newer_time(doc: dict[str, Any]) -> None:
    doc["jobs"][0]["time"]["start"] = {"set": True, "infinite": False, "number": 1795577373}


def _newer_state(doc: dict[str, Any]) -> None:
    doc["jobs"][0]["state"]["current"] = ["COMPLETED"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not json", "printed no JSON"),
        ('{"meta": {}, "errors": []}', "no 'jobs' list"),
        ('{"jobs": [], "errors": [{"error": "boom"}]}', "reported errors"),
        (_json_with(_newer_time), "job 36 time.start is dict"),
        (_json_with(_newer_state), "job 36 state.current is list"),
        (_json_with(lambda d: d["jobs"][1].pop("array")), "job 37 has no 'array.job_id'"),
        (_json_with(lambda d: d["jobs"][0]["state"].update(current="WEIRD")), "unknown SLURM job state"),
    ],
)
def test_json_refuses_what_it_does_not_know(text: str, match: str) -> None:
    with pytest.raises(SchedulerError, match=match):
        parse_sacct_json(text)


def test_a_range_cancelled_before_it_started_is_one_cancelled_task_per_index() -> None:
    # Seen on Slurm 22.05 after scancel of a whole array whose tasks never started.
    line = (
        "1689_[0-1]|1689|can_x|CANCELLED by 0|0:0|None assigned"
        "|2026-11-25T04:30:32|None|2026-11-25T04:30:33|None"
    )
    tasks = parse_sacct(line + "\n", width=CAPTURED)
    assert [(t.job_id, t.array_index, t.state) for t in tasks] == [
        ("1689", 0, JobState.CANCELLED),
        ("1689", 1, JobState.CANCELLED),
    ]
