"""Inputs a submission needs are checked before anything is submitted (issue 10, items 8 and 10).

A configured calibration file that does not exist was accepted by ``submit`` (exit 0) and every
data subrun then failed with "missing input"; a line break in the work area's name reached sbatch
("This does not look like a batch script"). On the real SLURM, "nothing submitted" is judged by
the scheduler's own accounting (sacct), not by the ledger alone.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.nights import Night, make_night

pytestmark = pytest.mark.timeout(300)

CONFIG = 2
RUNS = range(1873, 1882)  # the seed night's sequences: calibration 1873, data 1874..1881
FAILURES = [{"run": 1875, "subrun": 1, "step": "muon_analysis", "exit_code": 3}]


@pytest.fixture(params=["local", pytest.param("slurm", marks=pytest.mark.slurm)])
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    if request.param == "slurm":
        return "slurm", request.getfixturevalue("slurm_cluster")
    return "local", None


@pytest.fixture
def nights(tmp_path: Path, backend: tuple[str, str | None]) -> Iterator[Any]:
    made: list[Night] = []

    def make(extra: dict[str, Any]) -> Night:
        night = make_night(tmp_path / f"night{len(made)}", backend[0], extra, partition=backend[1])
        made.append(night)
        return night

    yield make
    for night in made:
        night.cli("cancel", check=False)
        from osa_core.scheduler.local.backend import stop_executor

        stop_executor(night.root / "state" / "local-scheduler", kill_tasks=True)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def nothing_submitted(night: Night, since: dt.datetime) -> None:
    status = night.status()
    assert {r["state"] for r in status["subruns"]} == {"NOT_SUBMITTED"}
    assert slurm_jobs(night, since) == []


def slurm_jobs(night: Night, since: dt.datetime) -> list[str]:
    """The night's jobs in SLURM's accounting since ``since`` (none on the local backend)."""
    if night.backend != "slurm":
        return []
    # Other tests submit jobs of the same names: this night's are those working in its tree.
    names = ",".join(f"LST1_{run:05d}_20200127" for run in RUNS)
    start = f"{since:%Y-%m-%dT%H:%M:%S}"
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-o", "JobID,WorkDir", "--name", names, "-S", start],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if str(night.root) in line]


@pytest.mark.parametrize("key", ["drs4", "charge", "time"])
def test_missing_calibration_file_submits_nothing(nights: Any, tmp_path: Path, key: str) -> None:
    calibration = {name: str(tmp_path / f"{name}.h5") for name in ("drs4", "charge", "time")}
    for name, path in calibration.items():
        if name != key:
            Path(path).write_bytes(b"calibration")
    night = nights({"pipeline": {"calibration": calibration}})
    since = dt.datetime.now() - dt.timedelta(seconds=5)
    result = night.cli("submit", check=False)
    assert result.returncode == CONFIG
    assert one_line(result) == (
        f"osa-core: {tmp_path}/{key}.h5: no such file, named by pipeline.calibration.{key} in "
        f"{night.config}: nothing was submitted; fix the path, or remove the key to compute it"
    )
    nothing_submitted(night, since)


def test_calibration_path_that_is_a_directory(nights: Any, tmp_path: Path) -> None:
    night = nights({"pipeline": {"calibration": {"charge": str(tmp_path)}}})
    result = night.cli("submit", check=False)
    assert result.returncode == CONFIG
    assert f"{tmp_path}: not a file, named by pipeline.calibration.charge" in one_line(result)


def test_line_break_in_the_work_area_submits_nothing(nights: Any, tmp_path: Path) -> None:
    analysis = tmp_path / "running\nanalysis"
    night = nights({"paths": {"analysis": str(analysis)}})
    since = dt.datetime.now() - dt.timedelta(seconds=5)
    result = night.cli("submit", check=False)
    assert result.returncode == CONFIG
    # The configuration's schema refuses it when the file is read, naming file:line and key;
    # the submission check (plan/inputs.py) would, naming the key, had it come through.
    line = one_line(result)
    assert line.startswith(f"osa-core: {night.config}")
    assert "paths.analysis" in line
    assert not list(night.root.glob("state/*/ledger_*"))  # no night was even opened
    assert slurm_jobs(night, since) == []


def test_resubmit_checks_the_inputs_again(tmp_path: Path) -> None:
    """A calibration file that disappeared after the night ran: resubmitting would fail the same way."""
    charge = tmp_path / "charge.h5"
    charge.write_bytes(b"calibration")
    night = make_night(
        tmp_path / "night",
        "local",
        {"pipeline": {"calibration": {"charge": str(charge)}, "simulate": {"failures": FAILURES}}},
    )
    try:
        night.cli("submit")
        before = night.wait_finished()
        assert [(r["run"], r["subrun"]) for r in before["subruns"] if r["state"] == "FAILED"] == [(1875, 1)]
        charge.unlink()
        result = night.cli("resubmit", check=False)
        assert result.returncode == CONFIG
        assert one_line(result).startswith(
            f"osa-core: {charge}: no such file, named by pipeline.calibration.charge"
        )
        after = night.status()
        assert {(r["run"], r["subrun"]): r["attempt"] for r in after["subruns"]} == {
            (r["run"], r["subrun"]): r["attempt"] for r in before["subruns"]
        }
    finally:
        from osa_core.scheduler.local.backend import stop_executor

        stop_executor(night.root / "state" / "local-scheduler", kill_tasks=True)


def test_submission_check_refuses_a_work_area_with_a_line_break(tmp_path: Path) -> None:
    """A Config built in code (the console's tests, a library caller) skips the file's schema."""
    from osa_core.model.config import load_config
    from osa_core.model.errors import ConfigError
    from osa_core.model.layout import NightLayout
    from osa_core.plan.inputs import check_submission_inputs

    config = load_config(make_night(tmp_path, "local").config)
    config = config.replace(paths=config.paths.replace(analysis=tmp_path / "running\nanalysis"))
    with pytest.raises(ConfigError, match="holds a line break, which no batch job can be given"):
        check_submission_inputs(config, NightLayout(config, dt.date(2020, 1, 27)))
