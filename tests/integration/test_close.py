"""Closing real nights, as cron and the shifter do: the CLI as processes, the merges as jobs on
the real single-node SLURM and on the embedded local backend (the same assertions for both).

Crashes are real: ``OSA_FAULT_KILL_AT=POINT:N`` (osa_core/model/faults.py) makes the closer SIGKILL
itself the Nth time it reaches POINT; only the timing is chosen.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.nights import Night, make_night

from osa_core.model.config import load_config
from osa_core.model.layout import NightLayout
from osa_core.pipeline.simulate import simulated_events
from osa_core.scheduler.factory import make_scheduler

DATA_RUNS = [1874, 1875, 1876, 1877, 1878, 1879, 1880, 1881]
SUBRUNS = 3
KINDS = {"DL1": "dl1_LST-1", "DL2": "dl2_LST-1", "muons": "muons_LST-1", "datacheck": "datacheck_dl1_LST-1"}
SUFFIX = {"DL1": ".h5", "DL2": ".h5", "muons": ".fits", "datacheck": ".h5"}
SUBRUN_DIRS = {"DL1": "DL1", "DL2": "DL2", "muons": "muons", "datacheck": "datacheck"}
KILLED = -signal.SIGKILL
CLOSING = 12
REFUSED = 8
FAILURES = [
    {"run": 1875, "subrun": 1, "step": "muon_analysis", "exit_code": 3},
    {"run": 1879, "subrun": 2, "step": "r0_to_dl1", "exit_code": 5},
]


@pytest.fixture(params=["local", pytest.param("slurm", marks=pytest.mark.slurm)])
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    if request.param == "slurm":
        return "slurm", request.getfixturevalue("slurm_cluster")
    return "local", None


@pytest.fixture
def night_factory(tmp_path: Path, backend: tuple[str, str | None]) -> Iterator[Callable[..., Night]]:
    made: list[Night] = []

    def make(extra: dict[str, Any] | None = None, name: str = "night") -> Night:
        base = {"close": {"keep_subrun_files": False}}
        night = make_night(tmp_path / name, backend[0], {**base, **(extra or {})}, partition=backend[1])
        made.append(night)
        return night

    yield make
    for night in made:
        night.cli("cancel", check=False)
        try:
            from osa_core.scheduler.local.backend import stop_executor
        except ImportError:
            continue
        stop_executor(night.root / "state" / "local-scheduler", kill_tasks=True)


def finished_night(make: Callable[..., Night], extra: dict[str, Any] | None = None) -> Night:
    night = make(extra)
    night.cli("submit")
    night.wait_finished()
    return night


def close(night: Night, *args: str, kill_at: str | None = None) -> Any:
    env = {"OSA_FAULT_KILL_AT": kill_at} if kill_at else None
    return night.cli("close", *args, check=False, env=env)


def close_until_done(night: Night, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = close(night)
        if result.returncode != CLOSING:
            return result
        assert time.monotonic() < deadline, f"still closing: {result.stdout}"
        time.sleep(0.5)


def layout(night: Night) -> NightLayout:
    return NightLayout(load_config(night.config), dt.date.fromisoformat(night.date))


def final_file(night: Night, level: str, run: int) -> Path:
    return layout(night).final_dir(level) / f"{KINDS[level]}.Run{run:05d}{SUFFIX[level]}"


def staged_files(night: Night) -> list[Path]:
    return [p for p in (layout(night).analysis_dir / "merged").rglob("*") if p.is_file()]


def subrun_files(night: Night, run: int) -> list[Path]:
    base = layout(night).analysis_dir
    return [
        base / SUBRUN_DIRS[level] / f"{KINDS[level]}.Run{run:05d}.{s:04d}{SUFFIX[level]}"
        for level in KINDS
        for s in range(SUBRUNS)
    ]


def expected_events(run: int) -> int:
    return sum(simulated_events(run, s) for s in range(SUBRUNS))


def ledger(night: Night, query: str) -> list[tuple[Any, ...]]:
    path = layout(night).ledger_path
    with sqlite3.connect(path) as db:
        return list(db.execute(query))


def merge_jobs_in_scheduler(night: Night) -> dict[int, set[str]]:
    """Every merge job the scheduler knows, by run: what a duplicate submission would show."""
    config = load_config(night.config)
    lay = layout(night)
    names = [lay.merge_job_name(run) for run in DATA_RUNS]
    started = ledger(night, "SELECT started FROM closings")
    if not started:
        return {}
    # the same night's merge jobs of earlier tests share these names: only this closing's count
    since = dt.datetime.fromisoformat(started[0][0]) - dt.timedelta(seconds=2)
    infos = asyncio.run(make_scheduler(config).query(names, since))
    out: dict[int, set[str]] = {}
    for info in infos:
        if info.submit is None or info.submit >= since:
            out.setdefault(int(info.name.split("_")[1]), set()).add(info.job_id)
    return out


def wait_merges_finished(night: Night, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        submitted = {r: set(json.loads(j)) for r, j in ledger(night, "SELECT run, jobs FROM closing_runs")}
        config = load_config(night.config)
        lay = layout(night)
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
        names = [lay.merge_job_name(run) for run in submitted]
        infos = asyncio.run(make_scheduler(config).query(names, since))
        done = {i.job_id for i in infos if i.state.finished}
        if all(jobs <= done for jobs in submitted.values()):
            return
        assert time.monotonic() < deadline, "merge jobs did not finish"
        time.sleep(0.5)


def inputs(night: Night) -> set[Path]:
    return {p for run in DATA_RUNS for p in subrun_files(night, run) if p.exists()}


def check_invariants(night: Night, before: set[Path]) -> None:
    """What must hold at every instant, crash or not (``before``: the subrun files before closing)."""
    for run in DATA_RUNS:
        deleted = [p for p in subrun_files(night, run) if p in before and not p.exists()]
        for level in KINDS:
            path = final_file(night, level, run)
            staged = layout(night).analysis_dir / "merged" / level / "20200127" / "test" / path.name
            assert not (path.exists() and staged.exists()), f"{path.name} exists twice"
            if deleted:
                # no subrun file is gone unless its merged file is in place and verified
                assert path.exists(), f"{deleted[0]} deleted but {path} is missing"
                assert json.loads(path.read_text())["events"] == expected_events(run)
    for level in KINDS:
        directory = layout(night).final_dir(level)
        if directory.is_dir():
            hidden = [p.name for p in directory.iterdir() if p.name.startswith(".")]
            assert hidden == [], f"temporary files under a final name's directory: {hidden}"


def check_closed(night: Night, runs: list[int], before: set[Path]) -> dict[str, Any]:
    """The night is closed: every product once, sums right, inputs gone, flag and ledger agree."""
    check_invariants(night, before)
    for run in runs:
        for level in KINDS:
            merged = json.loads(final_file(night, level, run).read_text())
            assert merged["simulated"] is True and merged["subruns"] == SUBRUNS
            assert merged["events"] == expected_events(run)
        assert not any(p.exists() for p in subrun_files(night, run))
    assert staged_files(night) == []
    flag: dict[str, Any] = json.loads(layout(night).closed_flag.read_text())
    assert sorted(p["run"] for p in flag["processed"]) == runs
    assert flag["simulation"] is True and flag["closed"]
    finished = ledger(night, "SELECT finished, summary FROM closings")
    assert len(finished) == 1 and finished[0][0] is not None
    assert json.loads(finished[0][1]) == flag
    # no merge job was ever submitted twice: the scheduler knows exactly the jobs the ledger has
    recorded = {
        r: set(json.loads(j)) for r, j in ledger(night, "SELECT run, jobs FROM closing_runs") if j != "[]"
    }
    assert merge_jobs_in_scheduler(night) == recorded
    assert night.status()["closing"].startswith("closed ")
    page = layout(night).analysis_dir / "datacheck_web" / "dl1" / "20200127" / "test" / "index.html"
    assert "closing: closed " in page.read_text()  # the page built before cleaning was brought up to date
    return flag


# --- refusing and forcing ------------------------------------------------------------------------------


def test_close_refuses_an_incomplete_night_and_names_what_is_missing(
    night_factory: Callable[..., Night],
) -> None:
    night = night_factory({"pipeline": {"simulate": {"failures": FAILURES}}})
    nothing = close(night)
    assert nothing.returncode == REFUSED and "nothing to close" in nothing.stderr

    night.cli("submit")
    night.wait_finished()
    for result in (close(night), close(night, "--dry-run")):
        assert result.returncode == REFUSED, result.stdout + result.stderr
        text = result.stdout + result.stderr
        assert "not complete" in text
        assert (
            "run 01875 (seq 2): 1 of 3 not completed [1 FAILED]: 0001 FAILED (muon_analysis exited 3" in text
        )
        assert "run 01879 (seq 6): 1 of 3 not completed [1 FAILED]: 0002 FAILED (r0_to_dl1 exited 5" in text
        assert "01874" not in text  # complete runs are not listed as missing
    # nothing was done: no closing, no merge job, no final file, no flag
    assert ledger(night, "SELECT * FROM closing_runs") == []
    assert ledger(night, "SELECT * FROM closings") == []
    assert not (night.root / "final").exists()
    assert not layout(night).closed_flag.exists()
    assert merge_jobs_in_scheduler(night) == {}
    assert night.status()["closing"] is None


def test_force_closes_the_complete_runs_and_records_the_excluded(night_factory: Callable[..., Night]) -> None:
    night = finished_night(night_factory, {"pipeline": {"simulate": {"failures": FAILURES}}})
    before = inputs(night)
    first = close(night, "--force")
    assert first.returncode == CLOSING, first.stdout + first.stderr
    assert "merging 0/6 runs, 2 excluded" in first.stdout
    assert night.status()["closing"].startswith("merging ")  # progress is in the snapshot

    done = close_until_done(night)
    assert done.returncode == 0, done.stdout + done.stderr
    included = [r for r in DATA_RUNS if r not in (1875, 1879)]
    flag = check_closed(night, included, before)
    assert flag["forced"] is True
    excluded = {e["run"]: e["reason"] for e in flag["excluded"]}
    assert excluded == {
        1875: "1 of 3 subruns not completed (1 FAILED)",
        1879: "1 of 3 subruns not completed (1 FAILED)",
    }
    assert flag["failed"] == []
    # excluded runs are not touched: 1875.0001 failed in its muon step (no muons, no DL2 file),
    # 1879.0002 in its first step (no file at all)
    for run, present in ((1875, 4 * SUBRUNS - 2), (1879, 4 * SUBRUNS - 4)):
        assert not any(final_file(night, level, run).exists() for level in KINDS)
        assert sum(p.exists() for p in subrun_files(night, run)) == present
    assert "2 excluded" in night.status()["closing"]
    events = " ".join(m for (m,) in ledger(night, "SELECT message FROM events WHERE kind = 'close'"))
    assert "excluded 01875" in events and "night closed" in events

    again = close(night, "--force")
    assert again.returncode == 0 and "was closed at" in again.stdout
    assert sum(len(j) for j in merge_jobs_in_scheduler(night).values()) == len(included)


# --- crashes ---------------------------------------------------------------------------------------------

# (kill point, wait for the merge jobs to finish first)
CHAINS = {
    "merging": [("merge-submitted:1", False), ("merge-submitted:4", False), ("merge-partial:2", False)],
    "verifying-moving": [
        ("merged:3", True),
        ("verified:2", False),
        ("moved-file:1", False),
        ("moved-file:6", False),
    ],
    "cleaning-finishing": [
        ("moved:5", True),
        ("datacheck:1", False),
        ("cleaned-file:4", False),
        ("flag:1", False),
    ],
}


@pytest.mark.parametrize("chain", list(CHAINS))
def test_close_killed_at_any_point_is_completed_by_a_rerun(
    night_factory: Callable[..., Night], chain: str
) -> None:
    night = finished_night(night_factory)
    before = inputs(night)
    assert len(before) == len(DATA_RUNS) * 4 * SUBRUNS
    for point, wait in CHAINS[chain]:
        if wait:
            if not ledger(night, "SELECT * FROM closings"):
                assert close(night).returncode == CLOSING
            wait_merges_finished(night)
        result = close(night, kill_at=point)
        if point.startswith("merge-partial"):  # the merge jobs die, not the closer
            assert result.returncode == CLOSING, result.stderr
            wait_merges_finished(night)
        else:
            assert result.returncode == KILLED, f"{point} was not reached: {result.stdout}{result.stderr}"
        check_invariants(night, before)
    done = close_until_done(night)
    assert done.returncode == 0, done.stdout + done.stderr
    check_closed(night, DATA_RUNS, before)
    if chain == "merging":  # every killed merge job was followed by one more, and only one
        tries = dict(ledger(night, "SELECT run, attempt FROM closing_runs"))
        assert set(tries.values()) <= {1, 2} and 2 in tries.values()
        log = " ".join(m for (m,) in ledger(night, "SELECT message FROM events WHERE kind = 'recover'"))
        assert "found after a crash" in log
