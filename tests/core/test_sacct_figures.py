"""sacct's resource figures: units, forms of older releases, and the step lines that carry them."""

from __future__ import annotations

import pytest

from osa_core.model.errors import SchedulerError
from osa_core.model.states import JobState
from osa_core.model.usage import Usage
from osa_core.scheduler.slurm.answers import SacctCache, parse_sacct
from osa_core.scheduler.slurm.figures import duration_seconds, minutes_limit, size_bytes

G = 1024**3
M = 1024**2


@pytest.mark.parametrize(
    ("text", "expected"),
    [("323640K", 323640 * 1024), ("1.50M", round(1.5 * M)), ("2G", 2 * G), ("0", 0), ("", None),
     ("4Gn", 4 * G), ("500Mc", 500 * M), ("1T", 1024 * G)],
)  # fmt: skip
def test_sizes(text: str, expected: int | None) -> None:
    assert size_bytes(text) == expected


def test_a_bare_request_is_megabytes_as_mem_reads_it() -> None:
    assert size_bytes("4000", default_unit="M") == 4000 * M


@pytest.mark.parametrize(
    ("text", "expected"),
    [("00:00.296", 0.296), ("01:02:03", 3723.0), ("1-02:03:04", 93784.0), ("10:00", 600.0),
     ("UNLIMITED", None), ("Partition_Limit", None), ("", None)],
)  # fmt: skip
def test_durations(text: str, expected: float | None) -> None:
    assert (
        duration_seconds(text) == pytest.approx(expected)
        if expected is not None
        else duration_seconds(text) is None
    )


def test_a_bare_time_limit_is_minutes() -> None:
    assert minutes_limit("30") == 1800.0 and minutes_limit("00:10:00") == 600.0


@pytest.mark.parametrize("bad", ["4GB", "lots", "-1K"])
def test_garbage_sizes_raise(bad: str) -> None:
    with pytest.raises(SchedulerError, match="cannot read size"):
        size_bytes(bad)


HEAD = (
    "|LST1_01874_20200127|COMPLETED|0:0|vm|2026-11-30T03:00:00|2026-11-30T03:00:01|2026-11-30T03:00:41|None"
)


STEP = "5386_3.batch|5387|batch|COMPLETED|0:0|vm|||||{rss}|00:37.500||\n"


def test_the_batch_step_gives_max_rss_to_its_task() -> None:
    text = (
        f"5386_3|5386{HEAD}||00:37.500|4G|01:00:00\n"
        "5386_3.batch|5387|batch|COMPLETED|0:0|vm|2026-11-30T03:00:00|2026-11-30T03:00:01|"
        "2026-11-30T03:00:41|None|323640K|00:37.500||\n"
        "5386_3.extern|5387|extern|COMPLETED|0:0|vm|2026-11-30T03:00:00|2026-11-30T03:00:01|"
        "2026-11-30T03:00:41|None|100K|00:00.001||\n"
    )
    (task,) = parse_sacct(text)
    assert (task.job_id, task.array_index, task.state) == ("5386", 3, JobState.COMPLETED)
    assert task.usage == Usage(max_rss=323640 * 1024, cpu_seconds=37.5, req_mem=4 * G, time_limit=3600.0)


def test_a_running_task_has_its_requests_but_no_cpu_figure_yet() -> None:
    line = "77_0|77|N|RUNNING|0:0|vm|2026-11-30T03:00:00|2026-11-30T03:00:01|Unknown|None"
    line += "||00:00:00|4000M|UNLIMITED"
    (task,) = parse_sacct(line + "\n")
    assert task.usage == Usage(req_mem=4000 * M)


def test_unchanged_groups_hand_back_the_same_objects() -> None:
    text = f"5386_3|5386{HEAD}||00:37.500|4G|01:00:00\n" + STEP.format(rss="2G")
    cache: SacctCache = {}
    first = parse_sacct(text, cache)
    again = parse_sacct(text, cache)
    assert first[0] is again[0] and first[0].usage is not None and first[0].usage.max_rss == 2 * G
    grown = parse_sacct(text.replace("|2G|", "|3G|"), cache)
    assert grown[0] is not first[0] and grown[0].usage is not None and grown[0].usage.max_rss == 3 * G


def test_an_answer_seen_before_is_not_read_again_but_one_changed_line_is() -> None:
    """The idle night's path: the same answer gives the same objects without a walk over its
    lines; one changed step line anywhere gives that task anew and keeps the others."""
    text = "".join(
        f"{job}_3|{job}{HEAD}||00:37.500|4G|01:00:00\n" + STEP.format(rss="2G").replace("5386", job)
        for job in ("5386", "5387")
    )
    cache: SacctCache = {}
    first = parse_sacct(text, cache)
    assert [t.job_id for t in first] == ["5386", "5387"]
    again = parse_sacct(text, cache)
    assert all(a is b for a, b in zip(first, again, strict=True)) and again is not first
    changed = text[::-1].replace("|G2|", "|G3|", 1)[::-1]  # the last task's step line only
    grown = parse_sacct(changed, cache)
    assert grown[0] is first[0] and grown[1] is not first[1]
    assert grown[1].usage is not None and grown[1].usage.max_rss == 3 * G
    assert parse_sacct(changed, cache)[1] is grown[1]
    assert parse_sacct(text, cache)[1].usage.max_rss == 2 * G  # type: ignore[union-attr]


def test_a_bad_figure_on_a_step_line_names_that_line() -> None:
    text = f"5386_3|5386{HEAD}||00:37.500|4G|01:00:00\n" + STEP.format(rss="lots")
    with pytest.raises(SchedulerError, match="sacct line 2: cannot read size 'lots'"):
        parse_sacct(text)
