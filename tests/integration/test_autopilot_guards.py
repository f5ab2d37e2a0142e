"""The autopilot's guards for a shared cluster, on the local backend's real executor:
``max_pending_tasks`` holds submissions back while our queue is full, and lets them go, in
order, once it drains; the disk guard refuses a submission or a closing the real file system has
no room for (thresholds set above and below its real free space: no fake file system)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.nights import Night, make_night, toml_dumps

from osa_core.scheduler.base import JobRequest
from osa_core.scheduler.local.backend import LocalScheduler, stop_executor

DATE = dt.date(2020, 3, 3)
RUNS = [(3101, "DRS4"), (3102, "CALI"), (3103, "DATA"), (3104, "DATA")]
SUBRUNS = 3
GIB = 1024**3


def night_line(run: int, kind: str, index: int) -> str:
    when = dt.datetime.combine(DATE, dt.time(21, 0)) + dt.timedelta(minutes=10 * index)
    return (
        f"{run:05d}  {SUBRUNS:3d} {kind} {when:%Y-%m-%d %H:%M:%S} 0001 1580154753739954334 5739954100"
        " 0001 1580154753739954334 5739951300\n"
    )


def one_pass(night: Night) -> dict[str, Any]:
    result = night.cli("autopilot", "--json", check=False, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])["nights"][0]
    return report


@pytest.fixture
def night(tmp_path: Path) -> Iterator[Night]:
    start = tmp_path / "in" / f"NightSummary_{DATE:%Y%m%d}.txt"
    start.parent.mkdir()
    start.write_text("".join(night_line(r, k, i) for i, (r, k) in enumerate(RUNS)))
    extra = {
        "pipeline": {"simulate": {"max_subruns": SUBRUNS, "default_seconds": 0.1}},
        "autopilot": {"max_pending_tasks": 9},
        "alerts": {"min_free_gib": 0.0},
    }
    built = make_night(tmp_path / "night", "local", extra, night_file=start, date=DATE.isoformat())
    raw = built.root / "raw" / f"{DATE:%Y%m%d}"
    for run, _ in RUNS:
        for subrun in range(SUBRUNS):
            (raw / f"LST-1.1.Run{run:05d}.{subrun:04d}.fits.fz").write_bytes(b"R0")
    yield built
    stop_executor(built.root / "state" / "local-scheduler", kill_tasks=True)


def test_submissions_wait_while_our_queue_is_full(night: Night, tmp_path: Path) -> None:
    spool = night.root / "state" / "local-scheduler"
    sched = LocalScheduler(spool)
    script = tmp_path / "sleep.sh"
    script.write_text("#!/bin/sh\nsleep 120\n")
    script.chmod(0o755)

    def request(name: str, **kw: Any) -> JobRequest:
        out = str(tmp_path / f"{name}.%a.out")
        return JobRequest(name=name, script=str(script), workdir=str(tmp_path), stdout=out, stderr=out, **kw)

    # Another night's work, pending behind a running job: 5 of our tasks in the queue.
    parent = asyncio.run(sched.submit(request("LST1_09999_20200302")))
    blocker = asyncio.run(
        sched.submit(request("LST1_09998_20200302", array=(0, 1, 2, 3, 4), after_ok=(parent,)))
    )
    deadline = time.monotonic() + 30
    while asyncio.run(sched.pending_tasks("LST1_")) != 5:  # until the executor starts the parent
        assert time.monotonic() < deadline, "the local executor did not start the blocking job"
        time.sleep(0.2)

    # room for 4: the calibration (1 task) and run 3103 (3 subruns); run 3104 waits
    first = one_pass(night)
    assert [d["kind"] for d in first["decisions"]][:1] == ["submit"]
    submitted = first["decisions"][0]["message"]
    assert "03102 (calibration)" in submitted and "03103 (3 subruns)" in submitted
    assert "03104" not in submitted
    assert (
        "waiting: 9 tasks pending, max_pending_tasks 9: run(s) 03104 wait for room in the queue"
        in first["notes"]
    )

    # once the other night's work is gone, the pass after lets run 3104 go
    asyncio.run(sched.cancel(parent))  # its dependants never run; the queue drains
    asyncio.run(sched.cancel(blocker))
    night.wait(lambda s: not any(r["state"] == "PENDING" for r in s["subruns"]), timeout=180)
    second = one_pass(night)
    assert any("submitted run(s) 03104 (3 subruns)" in d["message"] for d in second["decisions"])
    assert not any(note.startswith("waiting:") for note in second["notes"])


def set_autopilot(night: Night, **settings: Any) -> None:
    data = tomllib.loads(night.config.read_text())
    data["autopilot"] = {**data.get("autopilot", {}), **settings}
    night.config.write_text(toml_dumps(data))


def test_no_submission_and_no_closing_without_room_on_disk(night: Night) -> None:
    stats = os.statvfs(night.root)
    free = stats.f_bavail * stats.f_frsize
    # before any subrun finished, the configured figure: one subrun alone needs more than the disk has
    set_autopilot(night, max_pending_tasks=0, quiet_minutes=0.0, bytes_per_subrun=free + GIB)
    refused = one_pass(night)
    assert [d["kind"] for d in refused["decisions"]] == []
    assert any(
        n.startswith("not submitting run(s) 03102, 03103, 03104: no room on disk") for n in refused["notes"]
    )
    assert [c["kind"] for c in refused["conditions"]] == ["disk_low"]
    assert "no room for submitting run(s) 03102, 03103, 03104" in refused["conditions"][0]["summary"]
    assert "incident opened" in " ".join(refused["notes"])  # the alert goes out through alerting.py

    # a figure below the free space: everything goes, and the incident clears
    set_autopilot(night, bytes_per_subrun=1_000_000)
    going = one_pass(night)
    assert [d["kind"] for d in going["decisions"]][:1] == ["submit"]
    assert "03104 (3 subruns)" in going["decisions"][0]["message"]
    assert "incident resolved" in " ".join(going["notes"])
    night.wait_finished()

    # the night is over, but the margin asked for is more than the disk has: no closing
    set_autopilot(night, disk_margin_gib=free / GIB + 1)
    waits = one_pass(night)
    assert "close" not in [d["kind"] for d in waits["decisions"]]
    assert any(n.startswith("not closing the night: no room on disk for") for n in waits["notes"])
    assert "(from 7 finished subruns tonight)" in " ".join(waits["notes"])
    assert [c["kind"] for c in waits["conditions"]] == ["disk_low"]

    set_autopilot(night, disk_margin_gib=0.0)
    closes = one_pass(night)
    assert "close" in [d["kind"] for d in closes["decisions"]]


def test_a_retry_waits_for_room_on_disk_and_the_night_is_not_closed_meanwhile(night: Night) -> None:
    data = tomllib.loads(night.config.read_text())
    oom = {"run": 3103, "subrun": 1, "step": "r0_to_dl1", "allocate_mb": 400, "exit_code": 0}
    data["pipeline"]["simulate"]["failures"] = [oom]
    data["scheduler"]["memory"] = "150M"
    night.config.write_text(toml_dumps(data))
    set_autopilot(night, max_pending_tasks=0, quiet_minutes=0.0, bytes_per_subrun=1_000_000)
    assert [d["kind"] for d in one_pass(night)["decisions"]][:1] == ["submit"]
    night.wait_finished()

    stats = os.statvfs(night.root)
    set_autopilot(night, disk_margin_gib=stats.f_bavail * stats.f_frsize / GIB + 1)
    waits = one_pass(night)
    assert [d["kind"] for d in waits["decisions"]] == []  # neither the retry nor the closing
    assert any(
        n.startswith("not retrying run 03103: no room on disk for 1 subrun(s)") for n in waits["notes"]
    )
    assert [c["kind"] for c in waits["conditions"]] == ["disk_low"]

    set_autopilot(night, disk_margin_gib=0.0)
    retried = one_pass(night)
    assert [d["kind"] for d in retried["decisions"]][:1] == ["resubmit"]
    assert "OUT_OF_MEMORY" in retried["decisions"][0]["message"]


def test_reprocess_takes_past_nights_through_the_pass_niced(tmp_path: Path) -> None:
    nights = [dt.date(2020, 3, 5), dt.date(2020, 3, 6)]
    first = tmp_path / "in" / "NightSummary_20200305.txt"
    first.parent.mkdir()
    first.write_text("".join(night_line(r, k, i) for i, (r, k) in enumerate(RUNS[:3])))
    extra = {
        "paths": {"night_summary": "raw/{night}/NightSummary_{night}.txt"},
        "pipeline": {"simulate": {"max_subruns": SUBRUNS, "default_seconds": 0.1}},
        "alerts": {"min_free_gib": 0.0},
    }
    night = make_night(tmp_path / "night", "local", extra, night_file=first, date="2020-03-05")
    try:
        for date in nights:
            raw = night.root / "raw" / f"{date:%Y%m%d}"
            raw.mkdir(exist_ok=True)
            (raw / f"NightSummary_{date:%Y%m%d}.txt").write_text(first.read_text())
            for run, _ in RUNS[:3]:
                for subrun in range(SUBRUNS):
                    (raw / f"LST-1.1.Run{run:05d}.{subrun:04d}.fits.fz").write_bytes(b"R0")
        argv = [sys.executable, "-m", "osa_core", "--config", str(night.config), "reprocess"]
        done = subprocess.run(
            [*argv, "--from", "2020-03-05", "--to", "2020-03-06", "--json"],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout.splitlines()[-1])
        assert [n["date"] for n in report["nights"]] == ["2020-03-05", "2020-03-06"]
        for one in report["nights"]:
            assert one["decisions"][0]["message"].startswith("submitted run(s) 03102 (calibration), 03103")

        # bad ranges: one line, exit code 2, nothing submitted
        today = dt.datetime.now(dt.UTC).date()
        for bad, why in [
            (["--from", "2020-03-06", "--to", "2020-03-05"], "is before --from"),
            (["--from", "2020-03-05", "--to", today.isoformat()], "reprocess is for past nights"),
        ]:
            refused = subprocess.run([*argv, *bad], capture_output=True, text=True, timeout=60)
            assert refused.returncode == 2 and why in refused.stderr, refused.stderr
            assert len(refused.stderr.strip().splitlines()) == 1
    finally:
        stop_executor(night.root / "state" / "local-scheduler", kill_tasks=True)
