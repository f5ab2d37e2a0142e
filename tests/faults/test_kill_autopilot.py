"""The autopilot on the real SLURM, as cron runs it, SIGKILLed between and inside its passes.

A night is driven by ``osa-core autopilot`` passes alone: a plain failure that a configured
pattern marks as worth retrying is resubmitted once, and the night is closed. Passes are killed
at the engine's kill points (``OSA_FAULT_KILL_AT``: a real SIGKILL, its moment chosen) and at
moments drawn at random from outside (a real SIGKILL too), and more passes follow. SLURM's own
accounting (sacct and squeue) is the judge: exactly one job per attempt made, so every subrun's
final attempt ran exactly once. (The decisions' messages are checked on the local backend, in
tests/integration/test_autopilot_local.py; one SLURM night here keeps the suite's budget.)
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from campaign import CALIBRATION, DATA, SUBRUNS, CampaignNight

pytestmark = pytest.mark.slurm

RETRIED = (3004, 1)
EXTRA: dict[str, Any] = {
    "pipeline": {
        "simulate": {
            "failures": [
                {
                    "run": RETRIED[0],
                    "subrun": RETRIED[1],
                    "step": "dl1_datacheck",
                    "exit_code": 3,
                    "attempts": [1],
                }
            ]
        }
    },
    "autopilot": {
        # simstep's own words on stderr: a site lists its transient failures the same way
        "retry_patterns": ["fails as configured"],
        "max_tries": 2,
        "lock_wait": 2.0,
    },
}


def ready(night: CampaignNight) -> None:
    """Every raw file on disk, and the night file quiet for an hour: the night is over."""
    raw = night.layout.raw_dir
    for run in (CALIBRATION - 1, CALIBRATION):
        night.layout.raw_file(run, 0).write_bytes(b"R0")
    for run in DATA:
        for subrun in range(SUBRUNS):
            night.layout.raw_file(run, subrun).write_bytes(b"R0")
    hour_ago = time.time() - 3600
    os.utime(night.layout.night_summary, (hour_ago, hour_ago))
    assert raw.is_dir()


def autopilot(night: CampaignNight, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    return night.cli("autopilot", "--json", kill_at=kill_at, check=False)


def closed(night: CampaignNight) -> bool:
    return (night.status()["closing"] or "").startswith("closed")


def drive_to_closed(night: CampaignNight, timeout: float = 240) -> list[dict[str, Any]]:
    reports: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not closed(night):
        assert time.monotonic() < deadline, json.dumps(reports[-3:])[:4000]
        result = autopilot(night)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
        reports.append(json.loads(result.stdout.splitlines()[-1])["nights"][0])
        time.sleep(1.0)
    return reports


_dates = itertools.count()


@pytest.fixture
def night(tmp_path: Path, slurm_cluster: str) -> Iterator[CampaignNight]:
    # a night in the past (the autopilot closes a night only the morning after), and of its own:
    # 2019 is no other test's year, and the process id keeps two sessions apart
    date = dt.date(2019, 1, 1) + dt.timedelta(days=(os.getpid() * 2 + next(_dates)) % 360)
    made = CampaignNight(tmp_path / "night", slurm_cluster, EXTRA, date=date)
    ready(made)
    yield made
    made.stop()


# (the point, its passage): where inside a pass the process dies
# (submission-intent is left out: its recovery waits 30 s for the accounting before calling the
# submission lost, and tests/faults/test_kill_slurm.py tries it for every command)
KILLS = [
    "submission-sent:1",  # the calibration exists in SLURM; the ledger has not heard of it
    "submission-recorded:2",  # the first data array is in the ledger; the pass dies before the next
    "submission-sent:1",  # of the pass that retries the failed subrun
]


def test_autopilot_passes_killed_between_and_inside_take_a_night_to_closed_once(
    night: CampaignNight,
) -> None:
    """One night on the real SLURM: passes alone, some killed; SLURM counts one job per attempt."""
    rng = random.Random(12)
    for point in KILLS[:2]:
        result = autopilot(night, kill_at=point)
        assert result.returncode == -signal.SIGKILL, f"{point} not reached: {result.stdout}{result.stderr}"
    # passes killed from outside at random moments (a real SIGKILL; the moment is not chosen)
    kills = sum(_kill_after(night, rng.uniform(0.3, 2.5)) for _ in range(4))
    # the pass that retries the failed subrun, killed right after sbatch: the next pass finds the
    # job by its night tag instead of submitting it again
    status = night.wait(lambda s: night.states(s).get(RETRIED, ("", 0))[0] == "FAILED", timeout=180)
    assert night.states(status)[RETRIED] == ("FAILED", 1)
    result = autopilot(night, kill_at=KILLS[2])
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr
    reports = drive_to_closed(night)
    messages = [d["message"] for r in reports for d in r["decisions"]]
    assert any(m.startswith("closing the night: every sequence finished") for m in messages), messages
    states = night.states(night.status())
    assert states.pop(RETRIED) == ("COMPLETED", 2)
    assert set(states.values()) == {("COMPLETED", 1)}
    # SLURM's accounting: one job per attempt made, the retried subrun's second one included
    night.assert_no_duplicates({night.task(*RETRIED): 1})
    events = json.loads(night.cli("events", "--json").stdout)["events"]
    assert any(e["kind"] == "recover" and "found after a crash" in e["message"] for e in events)
    assert kills >= 1, "no pass was killed from outside: the delays were all too long"
    # the closed night: a pass does nothing and writes nothing
    (idle,) = json.loads(autopilot(night).stdout.splitlines()[-1])["nights"]
    assert (idle["decisions"], idle["conditions"]) == ([], [])
    assert json.loads(night.cli("events", "--json").stdout)["events"] == events


def _kill_after(night: CampaignNight, delay: float) -> int:
    """One pass, SIGKILLed from outside after ``delay`` seconds if still running; 1 if it was."""
    cmd = [
        sys.executable,
        "-m",
        "osa_core",
        "--config",
        str(night.night.config),
        "autopilot",
        "--date",
        night.night.date,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
        return 0
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return 1
