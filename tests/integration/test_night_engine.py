"""A night through the engine, as cron and the shifter drive it: the real CLI as processes, on
the real single-node SLURM and on the embedded local backend (the same assertions for both)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.nights import Night, all_finished, by_state, make_night, not_in_state

NightFactory = Callable[..., Night]

DATA_RUNS = [1874, 1875, 1876, 1877, 1878, 1879, 1880, 1881]


@pytest.fixture(params=["local", pytest.param("slurm", marks=pytest.mark.slurm)])
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    if request.param == "slurm":
        return "slurm", request.getfixturevalue("slurm_cluster")
    return "local", None


@pytest.fixture
def night_factory(tmp_path: Path, backend: tuple[str, str | None]) -> Iterator[NightFactory]:
    made: list[Night] = []

    def make(extra: dict[str, Any] | None = None, name: str = "night") -> Night:
        night = make_night(tmp_path / name, backend[0], extra, partition=backend[1])
        made.append(night)
        return night

    yield make
    for night in made:  # leave nothing running for the next test
        night.cli("cancel", check=False)
        _stop_local(night)


def _stop_local(night: Night) -> None:
    try:
        from osa_core.scheduler.local.backend import stop_executor
    except ImportError:
        return
    stop_executor(night.root / "state" / "local-scheduler", kill_tasks=True)


def submissions(night: Night) -> list[tuple[int, str, str | None]]:
    import sqlite3

    ledger = next((night.root / "state").rglob("ledger_*.sqlite"))
    with sqlite3.connect(ledger) as db:
        return list(db.execute("SELECT seq, status, indices FROM submissions ORDER BY id"))


def test_seed_night_completes_with_one_submission_per_sequence(night_factory: NightFactory) -> None:
    night = night_factory({"pipeline": {"simulate": {"default_seconds": 1.0}}})
    out = night.cli("submit").stdout
    assert "submitted 9 job(s)" in out
    status = night.wait_finished()
    assert len(status["subruns"]) == 1 + 8 * 3
    assert by_state(status, "COMPLETED") == [(r["run"], r["subrun"]) for r in status["subruns"]]
    assert [s["state"] for s in status["sequences"]] == ["COMPLETED"] * 9
    # one job per sequence: the scheduler saw exactly nine distinct job ids
    job_ids = {r["job_id"] for r in status["subruns"]}
    assert len(job_ids) == 9
    assert [s[0] for s in submissions(night)] == list(range(9))
    # every data subrun has its four steps recorded with a duration near the configured second
    for r in status["subruns"]:
        if r["run"] == 1873:
            assert [s["name"] for s in r["steps"]] == [
                "drs4_baseline",
                "charge_calibration",
                "time_calibration",
            ]
            continue
        assert [s["name"] for s in r["steps"]] == [
            "r0_to_dl1",
            "dl1_datacheck",
            "muon_analysis",
            "dl1_to_dl2",
        ]
        assert all(s["exit_code"] == 0 and 0.9 <= s["seconds"] < 30 for s in r["steps"])
        assert r["attempt"] == 1 and r["exit_code"] == 0 and r["node"]
    # a second submit submits nothing
    assert "nothing to submit" in night.cli("submit").stdout
    assert len(submissions(night)) == 9


def test_failed_subruns_are_resubmitted_alone_and_complete(night_factory: NightFactory) -> None:
    failures = [
        {"run": 1875, "subrun": 1, "step": "muon_analysis", "exit_code": 3},
        {"run": 1879, "subrun": 2, "step": "r0_to_dl1", "exit_code": 5},
    ]
    night = night_factory({"pipeline": {"simulate": {"failures": failures}}})
    night.cli("submit")
    status = night.wait_finished()
    failed = sorted(by_state(status, "FAILED"))
    assert failed == [(1875, 1), (1879, 2)]
    reasons = {(r["run"], r["subrun"]): r for r in status["subruns"]}
    assert reasons[(1875, 1)]["exit_code"] == 3
    assert reasons[(1875, 1)]["reason"].startswith("muon_analysis exited 3")
    assert reasons[(1879, 2)]["reason"].startswith("r0_to_dl1 exited 5")
    assert night.cli("status", check=False).returncode == 10  # cron sees that something failed
    # every sequence has finished: the cold looks kept each one's part (status-cache), and the
    # resubmission below shows through them (the ledger moves the sequences it changes)
    kept = sorted(p.name for p in night.root.glob("state/*/status-cache_*/seq*.json"))
    assert len(kept) == 9, kept

    dry = night.cli("resubmit", "--failed", "--dry-run").stdout
    assert "--array=1 " in dry and "--array=2 " in dry
    assert "memory" not in dry and "--exclude" not in dry  # an exit code is not a memory problem
    # what the console's M and X keys do, from the command line: shown, nothing submitted
    shaped = night.cli("resubmit", "--failed", "--dry-run", "--more-memory", "--exclude", "cp23").stdout
    assert shaped.count(", memory ") == 2 and shaped.count("--exclude=cp23") == 2, shaped
    assert len(submissions(night)) == 9
    out = night.cli("resubmit", "--failed").stdout
    assert "resubmitted" in out
    subs = submissions(night)
    assert [(s[0], s[2]) for s in subs[9:]] == [(2, "[1]"), (6, "[2]")]

    status = night.wait_finished()
    assert len(by_state(status, "COMPLETED")) == 25
    attempts = {(r["run"], r["subrun"]): r["attempt"] for r in status["subruns"]}
    assert attempts.pop((1875, 1)) == 2 and attempts.pop((1879, 2)) == 2
    assert set(attempts.values()) == {1}
    # the rerun skipped the steps the first attempt had finished
    steps = {s["name"]: s for s in reasons[(1875, 1)]["steps"]}
    assert steps["muon_analysis"]["exit_code"] == 3
    redone = next(r for r in status["subruns"] if (r["run"], r["subrun"]) == (1875, 1))
    skipped = [s["name"] for s in redone["steps"] if s["skipped"]]
    assert skipped == ["r0_to_dl1", "dl1_datacheck"]
    # nothing left to resubmit
    assert "nothing to resubmit" in night.cli("resubmit", "--failed").stdout


def test_failed_calibration_blocks_data_until_resubmitted(night_factory: NightFactory) -> None:
    failures = [{"run": 1873, "step": "charge_calibration", "exit_code": 4}]
    night = night_factory({"pipeline": {"simulate": {"failures": failures}}})
    night.cli("submit")
    status = night.wait(
        lambda s: (
            s["sequences"][0]["state"] == "FAILED"
            and all(q["state"] == "BLOCKED" for q in s["sequences"][1:])
        ),
        timeout=120,
    )
    assert status["sequences"][0]["counts"] == {"FAILED": 1}
    assert "calibration" in status["sequences"][1]["reason"]
    # resubmitting the data alone is refused: their calibration failed
    refused = night.cli("resubmit", "--run", "1874", "--subruns", "0", check=False)
    assert refused.returncode == 8
    out = night.cli("resubmit", "--run", "1873").stdout
    assert "resubmitted" in out
    status = night.wait_finished()
    assert len(by_state(status, "COMPLETED")) == 25
    # the data jobs were re-armed, not submitted again
    assert len(submissions(night)) == 10
    assert status["sequences"][0]["tries"] == 2
    # rerunning a completed calibration with its data: the data waits for the new calibration job
    night.cli("resubmit", "--force", "--run", "1873", "--run", "1874")
    with sqlite3.connect(next((night.root / "state").rglob("ledger_*.sqlite"))) as db:
        rows = list(db.execute("SELECT seq, job_id, after_ok FROM submissions WHERE id > 10 ORDER BY id"))
    assert [r[0] for r in rows] == [0, 1]
    (_, cal_job, _), (_, _, data_after) = rows
    assert json.loads(data_after) == [cal_job]
    assert len(by_state(night.wait_finished(), "COMPLETED")) == 25


def test_engine_killed_after_calibration_sbatch_recovers_without_duplicates(
    night_factory: NightFactory,
) -> None:
    night = night_factory()
    crashed = night.cli("submit", check=False, env={"OSA_FAULT_KILL_AT": "submission-sent:1"})
    assert crashed.returncode == -signal.SIGKILL
    subs = submissions(night)
    assert len(subs) == 1 and subs[0][1] == "submitting"  # sbatch ran; the ledger never heard back
    night.cli("submit")
    subs = submissions(night)
    assert [s[0] for s in subs] == list(range(9))
    assert all(s[1] == "submitted" for s in subs)
    status = night.wait_finished()
    assert len({r["job_id"] for r in status["subruns"]}) == 9
    assert len(by_state(status, "COMPLETED")) == 25, not_in_state(status, "COMPLETED")
    assert "nothing to submit" in night.cli("submit").stdout


def test_concurrent_submits_never_duplicate(night_factory: NightFactory) -> None:
    night = night_factory()
    cmd = [sys.executable, "-m", "osa_core", "--config", str(night.config), "submit", "--date", night.date]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes in ([0, 0], [0, 7]), outs
    texts = " ".join(o[0] for o in outs)
    assert "submitted 9 job(s)" in texts
    assert len(submissions(night)) == 9
    status = night.wait_finished()
    assert len({r["job_id"] for r in status["subruns"]}) == 9


def test_cancel_marks_cancelled_and_resubmit_recovers(night_factory: NightFactory) -> None:
    night = night_factory({"pipeline": {"simulate": {"default_seconds": 3.0}}})
    night.cli("submit")
    night.cli("cancel", "--run", "1881")
    status = night.wait(lambda s: s["sequences"][8]["state"] == "CANCELLED", timeout=180)
    assert set(by_state(status, "CANCELLED")) == {(1881, i) for i in range(3)}
    night.cli("resubmit", "--run", "1881")
    status = night.wait_finished(timeout=240)
    assert len(by_state(status, "COMPLETED")) == 25


def test_status_json_has_the_documented_fields(night_factory: NightFactory) -> None:
    night = night_factory()
    before = night.status()
    assert before["sequences"][0]["state"] == "NOT_SUBMITTED"
    night.cli("submit")
    status = night.wait_finished()
    assert status["date"] == "2020-01-27" and status["backend"] == night.backend
    assert status["simulation"] is True
    for s in status["sequences"]:
        assert {"seq", "type", "run", "state", "counts", "tries", "job_id", "elapsed", "progress"} <= s.keys()
    for r in status["subruns"]:
        assert {"run", "subrun", "state", "attempt", "exit_code", "steps"} <= r.keys()
        for st in r["steps"]:
            assert {"name", "seconds", "exit_code"} <= st.keys()
        # what the task used, from sacct (TotalCPU; MaxRSS needs a task longer than the 30 s
        # sampling) or the local wrapper's wait4, kept in the ledger for this cold process
        assert r["usage"]["cpu_seconds"] > 0, r
        if night.backend == "local":
            assert r["usage"]["max_rss"] > 1024**2, r
    assert "efficiency" in status and "CPU" in status["efficiency"]["DATA"]["line"]
    text = night.cli("status").stdout
    assert "SIMULATION" in text and "Sequences" in text
    json.dumps(status)


@pytest.mark.slurm
def test_status_watch_survives_slurmctld_outage(tmp_path: Path, slurm_cluster: str) -> None:
    """slurmctld stopped while ``status --watch`` runs: it says so, carries on, and catches up."""
    night = make_night(
        tmp_path / "night",
        "slurm",
        {"pipeline": {"simulate": {"default_seconds": 2.0}}},
        partition=slurm_cluster,
    )
    night.cli("submit")
    cmd = [
        sys.executable,
        "-m",
        "osa_core",
        "--config",
        str(night.config),
        "status",
        "--date",
        night.date,
        "--json",
        "--watch",
    ]
    watch = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    slurm_up = Path(__file__).resolve().parents[2] / "dev" / "slurm-up"
    seen: list[dict[str, Any]] = []

    def next_snapshot() -> dict[str, Any]:
        assert watch.stdout is not None
        line = watch.stdout.readline()
        assert line, f"status --watch ended: {watch.stderr.read() if watch.stderr else ''}"
        seen.append(json.loads(line))
        return seen[-1]

    try:
        assert next_snapshot()["scheduler"]["ok"]
        subprocess.run([str(slurm_up), "--stop-ctld"], check=True, timeout=120)
        deadline = time.monotonic() + 120
        while next_snapshot()["scheduler"]["ok"]:
            assert time.monotonic() < deadline, "the outage was never reported"
        down = seen[-1]
        assert "slurmctld" in down["scheduler"]["error"]
        assert watch.poll() is None  # it carries on
        subprocess.run([str(slurm_up), "--start-ctld"], check=True, timeout=120)
        deadline = time.monotonic() + 240
        while not (next_snapshot()["scheduler"]["ok"] and all_finished(seen[-1])):
            assert time.monotonic() < deadline, json.dumps(seen[-1])[:3000]
    finally:
        watch.kill()
        watch.wait(timeout=30)
        subprocess.run([str(slurm_up), "--start-ctld"], timeout=120)
    final = seen[-1]
    assert len(by_state(final, "COMPLETED")) == 25
    # nothing the ledger knew before the outage was lost
    assert len(submissions(night)) == 9
    assert night.status()["subruns"] == final["subruns"] or all_finished(night.status())


def test_out_of_memory_is_resubmitted_with_more_memory(tmp_path: Path) -> None:
    """Local backend only: this SLURM node has no cgroups, so it cannot detect OOM."""
    failures = [{"run": 1876, "subrun": 1, "step": "r0_to_dl1", "allocate_mb": 400, "exit_code": 0}]
    extra = {
        "scheduler": {"memory": "150M"},
        "pipeline": {"simulate": {"failures": failures, "step_seconds": {"r0_to_dl1": 2.0}}},
    }
    night = make_night(tmp_path / "night", "local", extra)
    try:
        night.cli("submit")
        status = night.wait_finished()
        assert by_state(status, "OUT_OF_MEMORY") == [(1876, 1)]
        oom = next(r for r in status["subruns"] if r["state"] == "OUT_OF_MEMORY")
        assert "r0_to_dl1" in oom["reason"]
        out = night.cli("resubmit", "--failed").stdout
        assert "memory 225M" in out
        import sqlite3

        ledger = next((night.root / "state").rglob("ledger_*.sqlite"))
        with sqlite3.connect(ledger) as db:
            assert db.execute("SELECT memory FROM submissions ORDER BY id DESC LIMIT 1").fetchone() == (
                "225M",
            )
        status = night.wait_finished()
        assert len(by_state(status, "COMPLETED")) == 25
    finally:
        _stop_local(night)
