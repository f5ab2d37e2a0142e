"""The fault campaign's small nights on the real SLURM, and what a kill and the next command must leave.

Each night has its own date (so its job names are its own among the other tests' nights) and
its own directory (the working directory that tells its jobs apart in the accounting).
Steps are simulated and short: the campaign is about what is submitted, not about the steps.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from slurm_accounting import Task, duplicates, jobs_by_name, jobs_by_task, queued
from support.nights import Night, make_night

from osa_core.model.config import load_config
from osa_core.model.layout import NightLayout

KILLED = -signal.SIGKILL
UNREACHABLE = 5
CALIBRATION = 3002
DATA = (3003, 3004, 3005)
SUBRUNS = 3
_dates = itertools.count()


def night_file(root: Path, date: dt.date) -> Path:
    """DRS4 + CALI + three DATA runs, in the legacy NightSummary format."""
    t0 = dt.datetime.combine(date, dt.time(20, 0))
    rows = [(3001, "DRS4"), (CALIBRATION, "CALI"), *((run, "DATA") for run in DATA)]
    lines = []
    for i, (run, kind) in enumerate(rows):
        when = t0 + dt.timedelta(minutes=10 * i)
        lines.append(
            f"{run:05d}  {SUBRUNS:3d} {kind} {when:%Y-%m-%d %H:%M:%S} 0001 1580154753739954334 5739954100"
            " 0001 1580154753739954334 5739951300"
        )
    path = root / f"NightSummary_{date:%Y%m%d}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


class CampaignNight:
    """One night of the campaign: the CLI, its layout, and SLURM's own count of its jobs."""

    def __init__(
        self, root: Path, partition: str, extra: Mapping[str, Any] | None = None, date: dt.date | None = None
    ) -> None:
        # a date of its own: its job names are not another night's (another test, another session)
        date = date or dt.date(2021, 1, 1) + dt.timedelta(days=next(_dates) + 100 * (os.getpid() % 50))
        base: dict[str, Any] = {
            "pipeline": {"simulate": {"max_subruns": SUBRUNS, "default_seconds": 0.1}},
            "scheduler": {"refresh_min": 0.2},
        }
        merged = _merge(base, extra or {})
        self.night: Night = make_night(
            root, "slurm", merged, night_file=night_file(root / "in", date), date=date.isoformat(),
            partition=partition,
        )  # fmt: skip
        self.layout = NightLayout(load_config(self.night.config), date)
        self.started = dt.datetime.now(dt.UTC)
        self.names = [self.layout.job_name(r) for r in (CALIBRATION, *DATA)]

    def cli(
        self, *args: str, kill_at: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {"OSA_FAULT_KILL_AT": kill_at} if kill_at else None
        deadline = time.monotonic() + 120
        while True:
            result = self.night.cli(*args, check=False, env=env, timeout=180)
            # exit 5: the controller is down (another test on this shared cluster stops it on
            # purpose); nothing was done, and cron would run the command again: so do we
            if result.returncode != UNREACHABLE or time.monotonic() > deadline:
                break
            time.sleep(2.0)
        if check and result.returncode not in (0, 10):
            raise AssertionError(f"osa-core {' '.join(args)} exited {result.returncode}\n{result.stderr}")
        return result

    def killed(self, *args: str, kill_at: str) -> None:
        result = self.cli(*args, kill_at=kill_at, check=False)
        assert result.returncode == KILLED, f"{kill_at} was not reached: {result.stdout}{result.stderr}"

    def task(self, run: int, subrun: int | None) -> Task:
        return (self.layout.job_name(run), None if run == CALIBRATION else subrun)

    def expected(self, extra_attempts: Mapping[Task, int] | None = None) -> dict[Task, int]:
        """One job per task of the night, plus the attempts a scenario added."""
        out = {self.task(CALIBRATION, None): 1}
        out |= {self.task(run, s): 1 for run in DATA for s in range(SUBRUNS)}
        for task, more in (extra_attempts or {}).items():
            out[task] += more
        return out

    def in_accounting(self) -> dict[Task, set[str]]:
        known = [r["job_id"] for r in self.status()["subruns"] if r["job_id"]]
        return jobs_by_task(self.names, str(self.layout.analysis_dir), self.started, known)

    def assert_no_duplicates(self, extra_attempts: Mapping[Task, int] | None = None) -> int:
        """SLURM has exactly one job per attempt of every task; the ledger knows each of them."""
        # A task that ran and ended within a second may be neither in the controller's queue nor
        # yet in the accounting database: ask until two answers a second apart agree and none is
        # missing (a duplicate never goes away by waiting).
        expected = self.expected(extra_attempts)
        found = self.settled(lambda now: any(len(now.get(t, ())) < n for t, n in expected.items()))
        wrong = duplicates(found, expected)
        assert wrong == {}, f"jobs per task differ from the attempts made: {wrong}; all: {found}"
        status = self.status()
        known = {(r["run"], r["subrun"]): r["job_id"] for r in status["subruns"]}
        for (name, index), jobs in found.items():
            run = int(name.split("_")[1])
            assert known[(run, index or 0)] == max(jobs, key=int), f"the ledger lost job {jobs} of {name}"
        return sum(len(j) for j in found.values())

    def settled(self, missing: Callable[[dict[Task, set[str]]], bool]) -> dict[Task, set[str]]:
        """The accounting once two answers a second apart agree and ``missing`` finds nothing
        missing, or the last answer after a deadline that a loaded slurmdbd has time to meet
        (the loop ends as soon as the answers settle)."""
        deadline = time.monotonic() + 60
        found = self.in_accounting()
        while True:
            time.sleep(1.0)
            again = self.in_accounting()
            if (again == found and not missing(again)) or time.monotonic() > deadline:
                return again
            found = again

    def status(self) -> dict[str, Any]:
        result = self.cli("status", "--json", check=False)
        assert result.returncode in (0, 10), result.stderr
        return dict(json.loads(result.stdout.splitlines()[-1]))

    def wait(self, predicate: Any, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if predicate(status):
                return status
            assert time.monotonic() < deadline, f"timed out: {json.dumps(status)[:3000]}"
            time.sleep(0.5)

    def assert_one_job_per_sequence(self) -> None:
        """SLURM has exactly one job of each name: nothing was submitted after the first submit."""
        # what the controller just cancelled reaches the accounting database a moment later (a
        # fixed 2 s was not always enough on a loaded machine): wait until every name is there
        # (a second job of a name never goes away by waiting)
        found = jobs_by_name(self.settled(lambda now: not set(self.names) <= set(jobs_by_name(now))))
        assert {name: len(found.get(name, ())) for name in self.names} == dict.fromkeys(self.names, 1), found

    def states(self, status: Mapping[str, Any]) -> dict[tuple[int, int], tuple[str, int]]:
        return {(r["run"], r["subrun"]): (r["state"], r["attempt"]) for r in status["subruns"]}

    def queued(self) -> list[str]:
        return queued(self.names, str(self.layout.analysis_dir))

    def stop(self) -> None:
        """Leave nothing queued on the shared node, whatever the ledger knows."""
        jobs = sorted({j.split("_")[0] for j in self.queued()})
        if jobs:
            subprocess.run(["scancel", *jobs], capture_output=True, timeout=60)


def finished(status: Mapping[str, Any]) -> bool:
    """Every subrun in a state the scheduler will not change. BLOCKED is not one: a data task
    shows BLOCKED in the moment between its calibration's cancel and its own (CI saw it)."""
    return bool(status["subruns"]) and all(
        r["state"] not in ("PENDING", "BLOCKED", "RUNNING", "NOT_SUBMITTED", "UNKNOWN")
        for r in status["subruns"]
    )


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
