"""The checks outside the autopilot's decisions, on a real ledger and the real file systems: a night
left open past the configured hour (and not before, and not once closed, and not a night with
nothing in it), and free space per file system against the threshold."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from osa_core.alert.checks import close_deadline, disk_conditions, not_closed_condition
from osa_core.model.conditions import ConditionKind
from osa_core.model.records import Sequence
from osa_core.model.states import SequenceType
from osa_core.track.ledger import Ledger

NIGHT = dt.date(2020, 1, 27)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger.sqlite")
    yield led
    led.close()


def test_a_night_not_closed_by_the_hour_is_a_condition_until_its_closing_finishes(ledger: Ledger) -> None:
    deadline = close_deadline(NIGHT, 15)
    assert deadline == dt.datetime(2020, 1, 28, 15, tzinfo=dt.UTC)
    assert (
        not_closed_condition(ledger, NIGHT, 15, deadline + dt.timedelta(hours=3)) is None
    )  # nothing planned
    ledger.sync_plan([Sequence(1, SequenceType.CALIBRATION, 1873, 1, drs4_run=1872)])
    assert not_closed_condition(ledger, NIGHT, 15, deadline - dt.timedelta(seconds=1)) is None
    late = not_closed_condition(ledger, NIGHT, 15, deadline)
    assert late is not None and late.kind is ConditionKind.NOT_CLOSED
    assert late.key == "not_closed:night"
    assert late.summary == "night 2020-01-27 not closed by 2020-01-28 15:00 UTC"
    assert "osa-core close --date 2020-01-27" in late.advice

    ledger.begin_closing([], forced=False, at=deadline)
    closing = ledger.closing()
    assert closing is not None
    ledger.set_closing_status(closing.id, "merging 3/8 runs")
    still = not_closed_condition(ledger, NIGHT, 15, deadline + dt.timedelta(hours=1))
    assert (
        still is not None and still.key == late.key and still.summary.endswith("(closing: merging 3/8 runs)")
    )
    ledger.finish_closing(closing.id, deadline + dt.timedelta(hours=2), "{}")
    assert not_closed_condition(ledger, NIGHT, 15, deadline + dt.timedelta(hours=3)) is None


def test_free_space_is_checked_once_per_file_system_against_the_threshold(tmp_path: Path) -> None:
    analysis, final = tmp_path / "analysis", tmp_path / "not" / "made" / "yet"
    analysis.mkdir()
    # The real free space of the real file system, against thresholds above and below it.
    (low,) = disk_conditions([analysis, final], min_free_gib=1e9)
    assert low.kind is ConditionKind.DISK_LOW and low.subject == str(analysis)
    assert low.summary.startswith("disk space low: ") and f"for {analysis} " in low.summary
    assert disk_conditions([analysis, final], min_free_gib=1e-9) == []
    assert disk_conditions([analysis], min_free_gib=0) == []  # 0: not checked
    # A file system of its own (/proc): one condition each, named by its first directory.
    both = disk_conditions([analysis, Path("/proc/self")], min_free_gib=1e9)
    assert [c.subject for c in both] == [str(analysis), "/proc/self"]
