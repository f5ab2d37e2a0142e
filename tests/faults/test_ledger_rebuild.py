"""A damaged ledger stops every command, and ``ledger rebuild`` brings the night back from SLURM.

On the real SLURM: a night runs (one subrun fails), then its ledger is damaged each way a disk
or a hand damages it. Every command refuses in one line with exit code 6 and submits nothing
(counted in SLURM's accounting); ``osa-core ledger rebuild`` rebuilds it from sacct and the
history files; the night then reads as it did, ``submit`` submits nothing and ``resubmit``
resubmits only what failed. On the local backend the same, from its spool.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from campaign import CampaignNight, finished
from support.nights import make_night

from osa_core.model.config import load_config
from osa_core.model.layout import NightLayout

DAMAGED = 6
REFUSED = 8


def spoil(path: Path, kind: str) -> None:
    whole = path.read_bytes()
    for sibling in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        assert not sibling.exists() or kind == "empty", f"{sibling} left: the ledger was not closed"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(b"\x00\xff garbage " * 4096)
    elif kind == "truncated":
        path.write_bytes(whole[: len(whole) // 2])
    elif kind == "missing-table":
        db = sqlite3.connect(path)
        db.execute("DROP TABLE submissions")
        db.commit()
        db.close()
    elif kind == "no-schema":
        path.unlink()
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode=WAL")  # an SQLite file, never given a schema
        db.close()
    else:
        raise AssertionError(kind)


def seen(status: dict[str, Any]) -> dict[tuple[int, int], tuple[str, int, str, int]]:
    """What a user checks per subrun: state, attempt, job, and how many steps were recorded."""
    return {
        (r["run"], r["subrun"]): (r["state"], r["attempt"], r["job_id"], len(r["steps"]))
        for r in status["subruns"]
    }


def refused_in_one_line(result: Any, ledger: Path, date: str) -> None:
    assert result.returncode == DAMAGED, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"osa-core: {ledger}: the night ledger ")
    assert f"osa-core ledger rebuild --date {date}" in lines[0]


@pytest.mark.slurm
def test_damaged_ledger_is_refused_then_rebuilt_from_sacct(tmp_path: Path, slurm_cluster: str) -> None:
    failures = [{"run": 3003, "subrun": 1, "step": "dl1_to_dl2", "exit_code": 3}]
    extra = {"pipeline": {"simulate": {"failures": failures}}}
    night = CampaignNight(tmp_path / "night", slurm_cluster, extra)
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S")
    night.cli("submit")
    before = seen(night.wait(finished))
    assert before[(3003, 1)][0] == "FAILED"
    jobs = night.assert_no_duplicates()
    ledger = night.layout.ledger_path
    date = night.night.date
    whole = night.cli("ledger", "rebuild", "--since", since, check=False)
    assert whole.returncode == REFUSED and "nothing to rebuild" in whole.stderr

    for kind in ("empty", "garbage", "truncated", "missing-table", "no-schema"):
        spoil(ledger, kind)
        commands: list[tuple[str, ...]] = [("status",), ("submit",)]
        if kind == "empty":  # every command that opens the ledger, once
            commands += [("resubmit", "--failed"), ("cancel",), ("close",), ("datacheck",)]
        for command in commands:
            refused_in_one_line(night.cli(*command, check=False), ledger, date)
        rebuilt = night.cli("ledger", "rebuild", "--since", since)
        assert f"rebuilt {ledger}: 4 job(s), 10 task(s)" in rebuilt.stdout, rebuilt.stdout
        assert "the damaged ledger is kept as" in rebuilt.stdout
        assert seen(night.status()) == before, kind
        assert "nothing to submit" in night.cli("submit").stdout
        assert night.assert_no_duplicates() == jobs, kind
    kept = [p for p in ledger.parent.glob("*.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 5  # every damaged file is kept: nothing was deleted

    night.cli("resubmit", "--failed")
    after = night.wait(finished)
    assert seen(after)[(3003, 1)][:2] == ("COMPLETED", 2)
    night.assert_no_duplicates({night.task(3003, 1): 1})


def test_damaged_ledger_on_the_local_backend_is_rebuilt_from_its_spool(tmp_path: Path) -> None:
    from campaign import night_file

    date = dt.date(2021, 6, 1)
    night = make_night(
        tmp_path / "night", "local", {"pipeline": {"simulate": {"max_subruns": 2, "default_seconds": 0.1}}},
        night_file=night_file(tmp_path / "in", date), date=date.isoformat(),
    )  # fmt: skip
    layout = NightLayout(load_config(night.config), date)
    try:
        night.cli("submit")
        before = seen(night.wait_finished())
        spoil(layout.ledger_path, "empty")
        refused_in_one_line(night.cli("submit", check=False), layout.ledger_path, night.date)
        rebuilt = night.cli("ledger", "rebuild")
        assert f"rebuilt {layout.ledger_path}: 4 job(s), 7 task(s)" in rebuilt.stdout, rebuilt.stdout
        assert seen(night.status()) == before
        assert "nothing to submit" in night.cli("submit").stdout
    finally:
        _stop_local(night.root)


def _stop_local(root: Path) -> None:
    from osa_core.scheduler.local.backend import stop_executor

    stop_executor(root / "state" / "local-scheduler", kill_tasks=True)
